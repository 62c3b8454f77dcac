package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/ingest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// folder writes n images (even: PNG, odd: JPEG) and a labels.csv to a new directory; it
// returns the directory and name -> bytes and name -> label.
func folder(t testing.TB, n int) (string, map[string][]byte, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	imgs, labels := map[string][]byte{}, map[string]string{}
	csv := "filename,label\n"
	for i := range n {
		name := fmt.Sprintf("img%02d.png", i)
		if i%2 == 1 {
			name = fmt.Sprintf("img%02d.jpg", i)
		}
		imgs[name] = writeImage(t, filepath.Join(dir, name), i)
		labels[name] = []string{"cat", "dog", "owl"}[i%3]
		csv += name + "," + labels[name] + "\n"
	}
	writeFile(t, filepath.Join(dir, "labels.csv"), csv)
	return dir, imgs, labels
}

// checkImages checks that the dataset at path holds exactly the images imgs with labels.
func checkImages(t *testing.T, path string, po dataset.PathOptions, imgs map[string][]byte, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	po.Mode = api.ModeRead
	ds, err := dataset.OpenPath(ctx, path, po)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	rows, err := ds.Rows(ctx, 0, ds.Len())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(imgs) {
		t.Errorf("%d rows, want %d", len(rows), len(imgs))
	}
	for _, r := range rows {
		name := r["filename"].(string)
		img := r["image"].(dataset.ImageValue)
		wantFormat := map[bool]string{true: "png", false: "jpeg"}[strings.HasSuffix(name, ".png")]
		var label any = labels[name]
		if _, ok := labels[name]; !ok {
			label = nil
		}
		if !bytes.Equal(img.Data, imgs[name]) || img.Format != wantFormat || r["label"] != label {
			t.Errorf("row %s: format %s, %d bytes, label %v; want %s, %d bytes, %v", name, img.Format, len(img.Data), r["label"], wantFormat, len(imgs[name]), label)
		}
	}
}

func TestDir(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{
		filepath.Join(t.TempDir(), "pets"),
		"file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "pets")),
		"mem://ingest-test-dir/pets",
	} {
		t.Run(path, func(t *testing.T) {
			src, imgs, labels := folder(t, 5)
			var progress []string
			res, err := ingest.Dir(ctx, src, path, ingest.DirOptions{
				Labels: filepath.Join(src, "labels.csv"),
				Progress: func(p ingest.Progress) {
					progress = append(progress, fmt.Sprintf("%d/%d %s %d", p.Done, p.Total, p.Name, p.Bytes))
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Created || res.Rows != 5 || res.Version.Version != 2 || res.Version.Rows != 5 || res.Version.Message != "import "+src {
				t.Errorf("first import: %+v", res)
			}
			if len(progress) != 5 || progress[0] != fmt.Sprintf("1/5 img00.png %d", len(imgs["img00.png"])) ||
				progress[4] != fmt.Sprintf("5/5 img04.png %d", len(imgs["img04.png"])) {
				t.Errorf("progress %q", progress)
			}
			checkImages(t, path, dataset.PathOptions{}, imgs, labels)

			// A second import appends one version; without labels, none.
			more := t.TempDir()
			imgs["extra.png"] = writeImage(t, filepath.Join(more, "extra.png"), 9)
			res, err = ingest.Dir(ctx, more, path, ingest.DirOptions{Message: "more"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Created || res.Rows != 1 || res.Version.Version != 3 || res.Version.Rows != 6 || res.Version.Message != "more" {
				t.Errorf("second import: %+v", res)
			}
			checkImages(t, path, dataset.PathOptions{}, imgs, labels)
		})
	}
}

// An import that cannot fit the dataset, or may not write, or has nothing to import,
// commits nothing and says why.
func TestDirRefusals(t *testing.T) {
	ctx := context.Background()
	src, _, _ := folder(t, 2)
	dir := filepath.Join(t.TempDir(), "other")
	ds, err := dataset.CreatePath(ctx, dir, dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
		dataset.Column{Name: "score", Type: dataset.T(dataset.Float32)},
	), dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Close()
	for _, tc := range []struct {
		name, src, path string
		opts            ingest.DirOptions
		want            string
	}{
		{"a column without values", src, dir, ingest.DirOptions{}, `the dataset's column "score" is not nullable and the import has no values for it`},
		{"read mode", src, dir, ingest.DirOptions{Path: dataset.PathOptions{Mode: api.ModeRead}}, `importing needs write access, not mode "read"`},
		{"no images", t.TempDir(), dir, ingest.DirOptions{}, "holds no images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ingest.Dir(ctx, tc.src, tc.path, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	ds, err = dataset.OpenPath(ctx, dir, dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.Version() != 1 {
		t.Errorf("the refused imports made version %d", ds.Version())
	}

	// A schema with the wrong column type.
	typed := filepath.Join(t.TempDir(), "typed")
	ds, err = dataset.CreatePath(ctx, typed, dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Bytes)},
	), dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Close()
	if _, err := ingest.Dir(ctx, src, typed, ingest.DirOptions{}); err == nil || !strings.Contains(err.Error(), `column "image" of the dataset is bytes, not image`) {
		t.Errorf("wrong type: %v", err)
	}
}

// An import completes a dataset whose creation was interrupted.
func TestDirCompletesAHalfCreatedDataset(t *testing.T) {
	ctx := context.Background()
	src, imgs, _ := folder(t, 3)
	dir := filepath.Join(t.TempDir(), "half")
	writeFile(t, filepath.Join(dir, "tarn.json"), `{"format":"tarn-dataset","version":1,"id":"half"}`)
	res, err := ingest.Dir(ctx, src, dir, ingest.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Version.Version != 2 || res.Version.Rows != 3 {
		t.Errorf("%+v", res)
	}
	checkImages(t, dir, dataset.PathOptions{}, imgs, nil)
}

// Links of a local folder into a local dataset: the owner reads them directly.
func TestLinksLocal(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	want := map[string][]byte{
		"a/one.jpg": writeImage(t, filepath.Join(src, "a", "one.jpg"), 1),
		"two.PNG":   writeImage(t, filepath.Join(src, "two.PNG"), 2),
	}
	writeFile(t, filepath.Join(src, "notes.txt"), "skipped")
	dir := filepath.Join(t.TempDir(), "web")
	res, err := ingest.Links(ctx, src, dir, ingest.LinkOptions{CredsKey: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Rows != 2 || res.Version.Message != "import links to file://"+filepath.ToSlash(src) {
		t.Errorf("%+v", res)
	}
	ds, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if c, _ := ds.Schema().Column("url"); c.LinkKey != "web" {
		t.Errorf("link key %q", c.LinkKey)
	}
	rows, err := ds.Rows(ctx, 0, ds.Len())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		name := r["filename"].(string)
		if r["url"] != "file://"+filepath.ToSlash(filepath.Join(src, name)) {
			t.Errorf("%s: url %v", name, r["url"])
		}
		if data, err := ds.ReadLink(ctx, r, "url"); err != nil || !bytes.Equal(data, want[name]) {
			t.Errorf("%s: ReadLink: %d bytes, %v", name, len(data), err)
		}
	}

	for _, tc := range []struct{ src, path, key, want string }{
		{"al://acme/x", dir, "web", "not a dataset path"},
		{"s3://bucket/images", dir, "web", "a storage URL is listed through a creds key"},
		{src, dir, "", "creds key"},
		{t.TempDir(), dir, "web", "holds no images (.bmp .gif .jpeg .jpg .png .tif .tiff .webp)"},
	} {
		if _, err := ingest.Links(ctx, tc.src, tc.path, ingest.LinkOptions{CredsKey: tc.key}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Links(%s, key %q): %v, want %q", tc.src, tc.key, err, tc.want)
		}
	}
}

// onMinIO is a control plane whose org acme keeps al://acme/pets on MinIO (creds key
// minio), with photos in a second bucket that the creds key photos covers.
type onMinIO struct {
	env           *testenv.Env
	admin         *client.Client
	writer        *client.Client
	reader        *client.Client
	photos        string // s3://BUCKET/photos, holding a.jpg and b/c.png
	photoBytes    map[string][]byte
	datasetPrefix string // the key prefix of al://acme/pets in its bucket
	minio         *miniotest.Server
}

func newOnMinIO(t *testing.T) *onMinIO {
	t.Helper()
	ctx := context.Background()
	m, photoSrv := miniotest.Start(t), miniotest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{m.HostPort(), photoSrv.HostPort()}})
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "minio", m.CredsKey("s3://"+m.Bucket)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "photos", photoSrv.CredsKey("s3://"+photoSrv.Bucket+"/photos")); err != nil {
		t.Fatal(err)
	}
	o := &onMinIO{env: env, admin: admin, minio: m, datasetPrefix: "datasets/pets/",
		writer: env.Client(t, env.NewUser(t, "wendy", "acme", api.RoleWriter)),
		reader: env.Client(t, env.NewUser(t, "rita", "acme", api.RoleReader)),
		photos: "s3://" + photoSrv.Bucket + "/photos", photoBytes: map[string][]byte{},
	}
	if _, err := o.writer.CreateDataset(ctx, "acme", api.CreateDatasetRequest{
		Name: "pets", Location: "s3://" + m.Bucket + "/datasets/pets", CredsKey: "minio",
	}); err != nil {
		t.Fatal(err)
	}
	c := photoSrv.S3(photoSrv.RootUser, photoSrv.RootPassword, "")
	for i, k := range []string{"a.jpg", "b/c.png", "notes.txt"} {
		data := writeImage(t, filepath.Join(t.TempDir(), k), i)
		if k == "notes.txt" {
			data = []byte("not an image")
		} else {
			o.photoBytes[k] = data
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(photoSrv.Bucket), Key: aws.String("photos/" + k), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// A writer imports a folder into al://acme/pets on MinIO and a reader reads it back; the
// reader's own import is refused by the control plane before anything is written.
func TestDirOnMinIO(t *testing.T) {
	ctx := context.Background()
	o := newOnMinIO(t)
	src, imgs, labels := folder(t, 4)
	res, err := ingest.Dir(ctx, src, "al://acme/pets", ingest.DirOptions{
		Path: dataset.PathOptions{Client: o.writer}, Labels: filepath.Join(src, "labels.csv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Rows != 4 || res.Version.Version != 2 {
		t.Errorf("%+v", res)
	}
	checkImages(t, "al://acme/pets", dataset.PathOptions{Client: o.reader}, imgs, labels)

	_, err = ingest.Dir(ctx, src, "al://acme/pets", ingest.DirOptions{Path: dataset.PathOptions{Client: o.reader}})
	var p *api.Problem
	if !errors.As(err, &p) || p.Code != api.CodePermissionDenied {
		t.Errorf("reader's import: %v, want permission denied", err)
	}
	checkImages(t, "al://acme/pets", dataset.PathOptions{Client: o.reader}, imgs, labels)
}

// Links to images in another bucket: listed through the creds key linked to the dataset,
// read by a reader through it; a key that is not linked fails before anything is written.
func TestLinksOnMinIO(t *testing.T) {
	ctx := context.Background()
	o := newOnMinIO(t)
	po := dataset.PathOptions{Client: o.writer}
	if _, err := ingest.Links(ctx, o.photos, "al://acme/pets", ingest.LinkOptions{Path: po, CredsKey: "photos"}); err == nil {
		t.Fatal("Links through a key that is not linked succeeded")
	} else {
		t.Log(err)
	}
	if n := countObjects(t, o.minio, o.datasetPrefix); n != 0 {
		t.Errorf("the refused import wrote %d objects", n)
	}
	if _, err := o.admin.AddLinkedCredsKey(ctx, "acme", "pets", "photos"); err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Links(ctx, o.photos, "al://acme/pets", ingest.LinkOptions{Path: po, CredsKey: "photos"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Rows != 2 {
		t.Errorf("%+v", res)
	}
	ds, err := dataset.OpenPath(ctx, "al://acme/pets", dataset.PathOptions{Client: o.reader, Mode: api.ModeRead})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	rows, err := ds.Rows(ctx, 0, ds.Len())
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		name := r["filename"].(string)
		data, err := ds.ReadLink(ctx, r, "url")
		if err != nil || !bytes.Equal(data, o.photoBytes[name]) || r["url"] != o.photos+"/"+name {
			t.Errorf("%s (%v): %d bytes, %v", name, r["url"], len(data), err)
		}
	}
}

func countObjects(t *testing.T, m *miniotest.Server, prefix string) int {
	t.Helper()
	out, err := m.S3(m.RootUser, m.RootPassword, "").ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{
		Bucket: aws.String(m.Bucket), Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Contents)
}
