package dataset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/storage"
)

func wantProblem(t *testing.T, what string, err error, codes ...string) *api.Problem {
	t.Helper()
	var p *api.Problem
	if !errors.As(err, &p) {
		t.Fatalf("%s: got %v, want an api.Problem with code %v", what, err, codes)
	}
	for _, c := range codes {
		if p.Code == c {
			return p
		}
	}
	t.Fatalf("%s: got code %q (%v), want %v", what, p.Code, err, codes)
	return nil
}

// A cold read-only open of al:// asks the control plane at most twice and never for write
// credentials, also for a writer; reading rows asks nothing more.
func TestReadOnlyOpenNeverVendsWrite(t *testing.T) {
	e := newTarn(t)
	e.seedCoco()
	ctx := context.Background()
	for _, who := range []struct{ name, token string }{{"bob", e.bobToken}, {"alice", e.aliceToken}} {
		c, ct := e.counted(who.token)
		ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: c, Mode: api.ModeRead})
		if err != nil {
			t.Fatalf("%s: %v", who.name, err)
		}
		if _, err := ds.Rows(ctx, 0, ds.Len()); err != nil {
			t.Fatal(err)
		}
		if !ds.ReadOnly() {
			t.Errorf("%s: ReadOnly() = false after a read-mode open", who.name)
		}
		reqs := ct.requests()
		if len(reqs) > 2 {
			t.Errorf("%s: %d control-plane requests, want at most 2: %q", who.name, len(reqs), reqs)
		}
		if w := writeVends(reqs); len(w) > 0 {
			t.Errorf("%s: a read-only open asked for write credentials: %q", who.name, w)
		}
		if err := ds.Close(); err != nil {
			t.Error(err)
		}
		if err := ds.Close(); err != nil { // idempotent
			t.Error(err)
		}
	}
}

// A plain open by a reader tries write, falls back to read with a notice that carries the
// control plane's reason, and costs two requests.
func TestPlainOpenFallsBackToReadOnly(t *testing.T) {
	e := newTarn(t)
	e.seedCoco()
	ctx := context.Background()
	c, ct := e.counted(e.bobToken)
	var notices []string
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{
		Client: c, Notice: func(m string) { notices = append(notices, m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if !ds.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	if len(notices) != 1 || !strings.HasPrefix(notices[0], "al://acme/coco opened read-only: ") || len(notices[0]) <= len("al://acme/coco opened read-only: ") {
		t.Errorf("notices = %q", notices)
	}
	if n := len(ct.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (write refused, read)", n)
	}

	// A writer's plain open is writable and silent.
	ds2, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{
		Client: e.alice, Notice: func(m string) { t.Errorf("notice for a writer: %s", m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.Close()
	if ds2.ReadOnly() {
		t.Error("writer: ReadOnly() = true")
	}
}

// A reader cannot write: not with Mode write, not by appending to a read-only open (nothing
// reaches the bucket), not by creating through a creds key, and not by writing with the
// read credentials themselves.
func TestReaderCannotWrite(t *testing.T) {
	e := newTarn(t)
	e.seedCoco()
	ctx := context.Background()

	_, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeWrite})
	p := wantProblem(t, "write open", err, api.CodePermissionDenied)
	if p.Detail == "" || !strings.Contains(err.Error(), p.Detail) {
		t.Errorf("error %q does not carry the server's detail %q", err, p.Detail)
	}

	before := countObjects(t, e.minio, "datasets/coco/")
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 1}) // would flush at once
	defer w.Close()
	if err := w.Append(ctx, dataset.Row{"name": "emu", "label": int64(9)}); !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("Append: %v, want ErrReadOnly", err)
	} else if !strings.Contains(err.Error(), "al://acme/coco") {
		t.Errorf("Append error does not name the dataset: %v", err)
	}
	if _, err := w.Commit(ctx, "x"); !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("Commit: %v, want ErrReadOnly", err)
	}
	if _, err := ds.AddColumn(ctx, dataset.Column{Name: "x", Type: dataset.T(dataset.Int8), Nullable: true}); !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("AddColumn: %v, want ErrReadOnly", err)
	}
	if after := countObjects(t, e.minio, "datasets/coco/"); after != before {
		t.Errorf("objects under the dataset: %d before, %d after the refused writes", before, after)
	}

	// The read credentials themselves do not write.
	b, err := storage.OpenBucket(ctx, "al://acme/coco", storage.Options{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "versions/v00000000000000000099.json", []byte("{}"), nil); err == nil {
		t.Error("a write with read credentials succeeded")
	}

	// A reader may not create through the org's creds key either.
	_, err = dataset.CreatePath(ctx, "s3://"+e.minio.Bucket+"/datasets/bobs", cocoSchema, dataset.PathOptions{
		Client: e.bob, Org: org, CredsKey: "minio",
	})
	wantProblem(t, "reader's create", err, api.CodePermissionDenied)
	if n := countObjects(t, e.minio, "datasets/bobs/"); n != 0 {
		t.Errorf("the refused create left %d objects", n)
	}
}

// Someone outside the org opens nothing, in any mode, and gets no notice.
func TestOutsiderCannotOpen(t *testing.T) {
	e := newTarn(t)
	e.seedCoco()
	ctx := context.Background()
	for _, mode := range []string{"", api.ModeRead, api.ModeWrite} {
		_, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{
			Client: e.outsider, Mode: mode, Notice: func(m string) { t.Errorf("mode %q: notice %q", mode, m) },
		})
		wantProblem(t, "outsider, mode "+mode, err, api.CodePermissionDenied, api.CodeNotFound)
	}
	_, err := dataset.OpenPath(ctx, "s3://"+e.minio.Bucket+"/datasets/coco", dataset.PathOptions{
		Client: e.outsider, Org: org, CredsKey: "minio", Mode: api.ModeRead,
	})
	wantProblem(t, "outsider through the creds key", err, api.CodePermissionDenied, api.CodeNotFound)
}

// linkedCoco is coco with a link column photo (key photos, linked) and rows pointing inside
// and outside the key's roots.
func linkedCoco(t *testing.T) (*tarn, string) {
	e := newTarn(t)
	e.seedCoco()
	ctx := context.Background()
	photos := newPhotoBucket(t, e)
	if _, err := e.admin.AddLinkedCredsKey(ctx, org, "coco", "photos"); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice, Mode: api.ModeWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if _, err := ds.AddColumn(ctx, dataset.Column{Name: "photo", Type: dataset.LinkTo(dataset.Image), Nullable: true, LinkKey: "photos"}); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSuffix(photos, "/photos") + "/secret/owl.jpg"
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	if err := w.Append(ctx,
		dataset.Row{"name": "eel", "label": int64(3), "photo": photos + "/eel.jpg"}, // row 3
		dataset.Row{"name": "fox", "label": int64(4), "photo": photos + "/fox.jpg"}, // row 4
		dataset.Row{"name": "owl", "label": int64(5), "photo": secret},              // row 5
		dataset.Row{"name": "yak", "label": int64(6), "photo": photos + "/yak.jpg"}, // row 6: missing
	); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	return e, photos
}

func TestReadLink(t *testing.T) {
	e, _ := linkedCoco(t)
	ctx := context.Background()
	c, ct := e.counted(e.bobToken)
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: c, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if got := ds.Schema().Columns[2].LinkKey; got != "photos" {
		t.Fatalf("LinkKey read back = %q", got)
	}
	rows, err := ds.Rows(ctx, 0, ds.Len())
	if err != nil {
		t.Fatal(err)
	}

	// Concurrent reads of one parent share one vend.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(row dataset.Row) {
			defer wg.Done()
			data, err := ds.ReadLink(ctx, row, "photo")
			if want := "bytes of " + row["name"].(string) + ".jpg"; err != nil || string(data) != want {
				t.Errorf("ReadLink %s = %q, %v; want %q", row["name"], data, err, want)
			}
		}(rows[3+i%2])
	}
	wg.Wait()
	r, err := ds.OpenLink(ctx, rows[4], "photo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.URL(), "/photos/fox.jpg") {
		t.Errorf("URL() = %q", r.URL())
	}
	r.Close()
	linked := 0
	for _, q := range ct.requests() {
		if strings.Contains(q, "/linked-credentials") {
			linked++
		}
	}
	if linked != 1 {
		t.Errorf("%d linked-credentials requests for one parent, want 1", linked)
	}

	// Clear errors, naming the column.
	for _, tc := range []struct {
		row    dataset.Row
		column string
		want   string
	}{
		{rows[0], "photo", `column "photo" is null`},
		{rows[0], "name", `column "name" is text, not a link`},
		{rows[0], "nope", `unknown column "nope"`},
		{rows[6], "photo", "no such object"},
		{dataset.Row{"photo": "http://example.com/x.jpg"}, "photo", `column "photo"`},
		{dataset.Row{"photo": "al://acme/other/x.jpg"}, "photo", "not al:// paths"},
	} {
		_, err := ds.ReadLink(ctx, tc.row, tc.column)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadLink(%v, %q) = %v, want an error with %q", tc.row, tc.column, err, tc.want)
		}
	}

	// After Close, links are not read.
	ds.Close()
	if _, err := ds.ReadLink(ctx, rows[3], "photo"); err == nil {
		t.Error("ReadLink after Close succeeded")
	}
}

// A link outside the linked key's roots, a key not linked to the dataset, and a reader
// outside the org are refused by the control plane.
func TestReadLinkRefusals(t *testing.T) {
	e, photos := linkedCoco(t)
	ctx := context.Background()
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	row, err := ds.Row(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.ReadLink(ctx, row, "photo")
	// The control plane refuses a location outside the key's roots as invalid.
	wantProblem(t, "link outside the key's roots", err, api.CodePermissionDenied, api.CodeInvalidLocation)

	// The key other covers the whole bucket but is not linked to coco.
	ds2, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice})
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.Close()
	if _, err := ds2.SetLinkKey(ctx, "photo", "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := ds2.SetLinkKey(ctx, "name", "other"); err == nil || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("SetLinkKey on a text column: %v", err)
	}
	if _, err := ds.SetLinkKey(ctx, "photo", "photos"); !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("reader's SetLinkKey: %v, want ErrReadOnly", err)
	}
	ds3, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds3.Close()
	_, err = ds3.ReadLink(ctx, dataset.Row{"photo": photos + "/eel.jpg"}, "photo")
	wantProblem(t, "key not linked", err, api.CodePermissionDenied)

	// A reader gets the photos only through the dataset, not through the key directly.
	_, err = storage.OpenBucket(ctx, photos, storage.Options{Client: e.bob, Org: org, CredsKey: "photos"})
	wantProblem(t, "reader's direct vend of the key", err, api.CodePermissionDenied)

	// Someone outside the org cannot use the linked key through the dataset.
	_, err = storage.OpenBucket(ctx, photos, storage.Options{Client: e.outsider, LinkedTo: "al://acme/coco", CredsKey: "photos"})
	wantProblem(t, "outsider's linked vend", err, api.CodePermissionDenied, api.CodeNotFound)
}

// Paths without a control plane: plain local paths, file:// and mem://.
func TestLocalPaths(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "images", "a.png")
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, []byte("png bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "img", Type: dataset.LinkTo(dataset.Image), Nullable: true},
		dataset.Column{Name: "s3img", Type: dataset.LinkTo(dataset.Image), Nullable: true, LinkKey: "photos"},
	)
	for _, path := range []string{
		filepath.Join(dir, "plain"),
		"file://" + filepath.ToSlash(filepath.Join(dir, "viafile")),
		"mem://" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-") + "/ds",
	} {
		if _, err := dataset.OpenPath(ctx, path, dataset.PathOptions{}); err == nil {
			t.Errorf("%s: OpenPath before CreatePath succeeded", path)
		}
		if _, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{Mode: api.ModeRead}); err == nil {
			t.Errorf("%s: CreatePath in mode read succeeded", path)
		}
		ds, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		w := ds.Appender(dataset.AppenderOptions{})
		if err := w.Append(ctx, dataset.Row{"n": int64(1), "img": "file://" + filepath.ToSlash(img), "s3img": "s3://bucket/a.png"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(ctx, "one"); err != nil { // a local directory needs Options.Dir: set
			t.Fatalf("%s: commit: %v", path, err)
		}
		w.Close()
		ds.Close()
		if _, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{}); !errors.Is(err, dataset.ErrExists) {
			t.Errorf("%s: second CreatePath: %v, want ErrExists", path, err)
		}

		ds, err = dataset.OpenPath(ctx, path, dataset.PathOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.ReadOnly() {
			t.Errorf("%s: a plain open of a local path is read-only", path)
		}
		if _, err := ds.AddColumn(ctx, dataset.Column{Name: "x", Type: dataset.T(dataset.Int8), Nullable: true}); err != nil {
			t.Errorf("%s: AddColumn: %v", path, err)
		}
		row, err := ds.Row(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if data, err := ds.ReadLink(ctx, row, "img"); err != nil || string(data) != "png bytes" {
			t.Errorf("%s: ReadLink file:// = %q, %v", path, data, err)
		}
		if _, err := ds.ReadLink(ctx, row, "s3img"); err == nil || !strings.Contains(err.Error(), "al:// path") {
			t.Errorf("%s: ReadLink s3:// without a control plane: %v", path, err)
		}
		ds.Close()

		ds, err = dataset.OpenPath(ctx, path, dataset.PathOptions{Mode: api.ModeRead})
		if err != nil {
			t.Fatal(err)
		}
		if !ds.ReadOnly() {
			t.Errorf("%s: ReadOnly() = false in mode read", path)
		}
		if err := ds.Appender(dataset.AppenderOptions{}).Append(ctx, dataset.Row{"n": int64(2)}); !errors.Is(err, dataset.ErrReadOnly) {
			t.Errorf("%s: append in mode read: %v", path, err)
		}
		ds.Close()
	}

	for _, bad := range []struct{ path, mode, want string }{
		{"al://acme/coco/sub", "", "without a prefix"},
		{"al://acme/coco", "", "needs a tarn client"},
		{filepath.Join(dir, "plain"), "admin", "mode"},
		{"ftp://x/y", "", "ftp"},
	} {
		_, err := dataset.OpenPath(ctx, bad.path, dataset.PathOptions{Mode: bad.mode})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("OpenPath(%q, mode %q) = %v, want an error with %q", bad.path, bad.mode, err, bad.want)
		}
	}
}

// al:// datasets whose creds key is of provider file are local directories: commits are
// atomic through the directory the vend named, without vending twice.
func TestALOnLocalDirectory(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, testenv.Options{})
	admin := env.Admin(t)
	reg, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: "pets"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.CreatePath(ctx, "al://local/pets", cocoSchema, dataset.PathOptions{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	if err := w.Append(ctx, dataset.Row{"name": "rex", "label": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, "rex"); err != nil {
		t.Fatalf("commit on a vended directory: %v", err)
	}
	w.Close()
	ds.Close()
	if !strings.HasPrefix(reg.Location, "file://") {
		t.Fatalf("location %s", reg.Location)
	}
	manifest := filepath.Join(strings.TrimPrefix(reg.Location, "file://"), "versions", "v00000000000000000002.json")
	if _, err := os.Stat(manifest); err != nil {
		t.Errorf("manifest of version 2: %v", err)
	}

	c, ct := (&tarn{Env: env, tb: t}).counted(env.AdminToken)
	ds, err = dataset.OpenPath(ctx, "al://local/pets", dataset.PathOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.ReadOnly() || ds.Len() != 1 {
		t.Errorf("ReadOnly %v, Len %d", ds.ReadOnly(), ds.Len())
	}
	if _, err := ds.AddColumn(ctx, dataset.Column{Name: "x", Type: dataset.T(dataset.Int8), Nullable: true}); err != nil {
		t.Errorf("AddColumn: %v", err)
	}
	if n := len(ct.requests()); n != 1 {
		t.Errorf("%d control-plane requests for an open and a commit, want 1", n)
	}
}

func TestLinkKeyValidation(t *testing.T) {
	for _, tc := range []struct {
		col  dataset.Column
		want string
	}{
		{dataset.Column{Name: "t", Type: dataset.T(dataset.Text), LinkKey: "k"}, "only link columns"},
		{dataset.Column{Name: "l", Type: dataset.LinkTo(dataset.Image), LinkKey: "Bad Key!"}, "link key"},
	} {
		err := dataset.NewSchema(tc.col).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.col, err, tc.want)
		}
	}
	if err := dataset.NewSchema(dataset.Column{Name: "l", Type: dataset.LinkTo(dataset.Image), LinkKey: "photos"}).Validate(); err != nil {
		t.Error(err)
	}
}
