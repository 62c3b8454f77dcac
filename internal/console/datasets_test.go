package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
)

// dsEnv is an env whose org local has a creds key "disk" of provider file for the directory
// root (also the default storage), and a browser signed in as the admin.
type dsEnv struct {
	*env
	root  string // file://… of the key's one root
	admin *browser
}

func newDatasetEnv(t *testing.T) *dsEnv {
	t.Helper()
	e := newEnv(t)
	root := "file://" + e.DataDir + "/datasets/local"
	admin := e.Admin(t)
	ctx := context.Background()
	if _, err := admin.PutCredsKey(ctx, "local", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
		Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetDefaultStorage(ctx, "local", api.DefaultStorage{Location: root, CredsKey: "disk"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	return &dsEnv{env: e, root: root, admin: b}
}

// submit posts the fields to action with the CSRF token of the page at from, as the page's
// own form would.
func (b *browser) submit(from, action string, fields url.Values) response {
	b.t.Helper()
	form := url.Values{"csrf": {b.csrf(b.wantPage(from))}}
	for k, v := range fields {
		form[k] = v
	}
	return b.post(action, form, b.e.url)
}

// withRows registers al://local/name at root/name and commits rows (n, label) to it with
// message, returning the directory that holds it.
func (d *dsEnv) withRows(t *testing.T, name, message string, rows int) string {
	t.Helper()
	ctx := context.Background()
	admin := d.Admin(t)
	if _, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: name, Location: d.root + "/" + name, CredsKey: "disk"}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.CreatePath(ctx, "al://local/"+name, dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
	), dataset.PathOptions{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	for i := range rows {
		if err := w.Append(ctx, dataset.Row{"n": int64(i), "label": "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, message); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(d.root, "file://") + "/" + name
}

// datasetRow returns the table row of the list that shows al://local/name, or "".
func datasetRow(body, name string) string {
	for _, tr := range strings.Split(body, "<tr>") {
		if strings.Contains(tr, "<code>al://local/"+name+"</code>") {
			return tr
		}
	}
	return ""
}

func TestCreatedDatasetIsListedWithNoRows(t *testing.T) {
	d := newDatasetEnv(t)
	page := d.admin.wantPage("/orgs/local")
	for _, want := range []string{`action="/orgs/local/datasets"`, "New datasets go to <code>" + d.root + "/NAME</code>"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("/orgs/local lacks %q:\n%s", want, page.body)
		}
	}
	r := d.admin.submit("/orgs/local", "/orgs/local/datasets", url.Values{"kind": {"create"}, "name": {"fresh"}})
	wantRedirect(t, "create", r, "/orgs/local/datasets/fresh")
	shown := d.admin.wantPage("/orgs/local/datasets/fresh")
	if !strings.Contains(shown.body, "Created al://local/fresh at "+d.root+"/fresh.") {
		t.Errorf("the dataset page does not say it was created:\n%s", shown.body)
	}
	row := datasetRow(d.admin.wantPage("/orgs/local").body, "fresh")
	if !strings.Contains(row, `<td class="num">0</td>`) || !strings.Contains(row, "no data yet") || !strings.Contains(row, "disk") {
		t.Errorf("the list's row of fresh should show 0 rows, no data yet and creds key disk:\n%s", row)
	}
}

func TestDatasetWithRowsShowsHeadSchemaAndVersions(t *testing.T) {
	d := newDatasetEnv(t)
	r := d.admin.submit("/orgs/local", "/orgs/local/datasets", url.Values{"kind": {"connect"}, "name": {"pets"},
		"location": {d.root + "/pets"}, "creds_key": {"disk"}})
	wantRedirect(t, "connect", r, "/orgs/local/datasets/pets")
	ctx := context.Background()
	ds, err := dataset.CreatePath(ctx, "al://local/pets", dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
	), dataset.PathOptions{Client: d.Admin(t)})
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	for i := range 3 {
		if err := w.Append(ctx, dataset.Row{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	const xss = `<script>alert("pets")</script>`
	if _, err := w.Commit(ctx, "first pets "+xss); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ds.Close()

	row := datasetRow(d.admin.wantPage("/orgs/local").body, "pets")
	if !strings.Contains(row, `<td class="num">3</td>`) || !strings.Contains(row, " UTC") || !strings.Contains(row, "first pets") {
		t.Errorf("the list's row of pets should show 3 rows and its last commit:\n%s", row)
	}
	page := d.admin.wantPage("/orgs/local/datasets/pets").body
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<td><code>n</code></td><td><code>int64</code></td><td>no</td>`),
		regexp.MustCompile(`<td><code>label</code></td><td><code>text</code></td><td>yes</td>`),
		regexp.MustCompile(`<td class="num">2</td><td>[^<]+ UTC</td><td class="num">3</td><td>first pets &lt;script&gt;`),
		regexp.MustCompile(`<td class="num">1</td><td>[^<]+ UTC</td><td class="num">0</td>`),
		regexp.MustCompile(`Creds key</dt><dd><a href="/orgs/local/creds-keys/disk">disk</a>`),
		regexp.MustCompile(`Created</dt><dd>[^<]+ UTC by admin</dd>`),
	} {
		if !want.MatchString(page) {
			t.Errorf("the dataset page does not match %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, xss) {
		t.Error("the commit message's script tag is not escaped")
	}
	if strings.Index(page, `<td class="num">2</td>`) > strings.Index(page, `<td class="num">1</td>`) {
		t.Error("versions are not listed newest first")
	}
}

func TestUnreadableDatasetDoesNotFailTheList(t *testing.T) {
	d := newDatasetEnv(t)
	d.withRows(t, "good", "ok", 2)
	bad := d.withRows(t, "broken", "ok", 1)
	if err := os.WriteFile(filepath.Join(bad, "tarn.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	body := d.admin.wantPage("/orgs/local").body
	if row := datasetRow(body, "good"); !strings.Contains(row, `<td class="num">2</td>`) {
		t.Errorf("the readable dataset's row lost its rows:\n%s", row)
	}
	row := datasetRow(body, "broken")
	if !regexp.MustCompile(`<span class="muted" title="[^"]+">—</span>`).MatchString(row) {
		t.Errorf("the broken dataset's row should show — with a title saying why:\n%s", row)
	}
	page := d.admin.wantPage("/orgs/local/datasets/broken").body
	if !strings.Contains(page, "The data could not be read: ") {
		t.Errorf("the broken dataset's page does not say its data could not be read:\n%s", page)
	}
}

func TestCreateFormRefusedKeepsValues(t *testing.T) {
	d := newDatasetEnv(t)
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string // the input whose error is shown next to it
		kept  string // a typed value the form shows again
	}{
		{"bad name", url.Values{"kind": {"create"}, "name": {"Bad Name!"}}, "name", `value="Bad Name!"`},
		{"unknown creds key", url.Values{"kind": {"connect"}, "name": {"x"}, "location": {"s3://bucket/x"}, "creds_key": {"nope"}},
			"creds_key", `value="s3://bucket/x"`},
		{"bad location", url.Values{"kind": {"connect"}, "name": {"y"}, "location": {"ftp://host/y"}, "creds_key": {"disk"}},
			"location", `value="ftp://host/y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.admin.submit("/orgs/local", "/orgs/local/datasets", tc.form)
			if r.StatusCode < 400 {
				t.Fatalf("refused form: %s, want the API's error status", r.Status)
			}
			id := tc.form.Get("kind") + map[string]string{"name": "-name", "creds_key": "-key", "location": "-location"}[tc.field]
			if fieldError(r.body, id) == "" {
				t.Errorf("no error next to the %s input (#%s):\n%s", tc.field, id, r.body)
			}
			if !strings.Contains(r.body, tc.kept) {
				t.Errorf("the refused form lost %s", tc.kept)
			}
		})
	}
	if ds, err := d.Admin(t).Datasets(context.Background(), "local"); err != nil || len(ds) != 0 {
		t.Errorf("refused forms created datasets: %v %v", ds, err)
	}
}

func TestDeleteDataset(t *testing.T) {
	d := newDatasetEnv(t)
	ctx := context.Background()
	admin := d.Admin(t)
	dir := d.withRows(t, "scratch", "some", 5)
	page := "/orgs/local/datasets/scratch"

	r := d.admin.submit(page, page+"/delete", url.Values{"delete_data": {"on"}, "confirm": {"scratc"}})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, `type the dataset&#39;s name &#34;scratch&#34;`) {
		t.Fatalf("delete with a wrong typed name: %s, want 400 asking for the name:\n%s", r.Status, r.body)
	}
	if _, err := admin.Dataset(ctx, "local", "scratch"); err != nil {
		t.Fatalf("a wrong typed name deleted the entry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tarn.json")); err != nil {
		t.Fatalf("a wrong typed name deleted data: %v", err)
	}

	r = d.admin.submit(page, page+"/delete", url.Values{"delete_data": {"on"}, "confirm": {"scratch"}})
	wantRedirect(t, "delete with data", r, "/orgs/local")
	if body := d.admin.wantPage("/orgs/local").body; !strings.Contains(body, "Deleted al://local/scratch and its ") {
		t.Errorf("no flash saying the data was deleted:\n%s", body)
	}
	if _, err := admin.Dataset(ctx, "local", "scratch"); !isCode(err, api.CodeNotFound) {
		t.Errorf("entry after delete with data: %v, want not found", err)
	}
	if files := filesUnder(t, dir); len(files) != 0 {
		t.Errorf("objects left after delete with data: %v", files)
	}

	kept := d.withRows(t, "kept", "some", 1)
	r = d.admin.submit("/orgs/local/datasets/kept", "/orgs/local/datasets/kept/delete", url.Values{})
	wantRedirect(t, "delete from registry", r, "/orgs/local")
	if _, err := admin.Dataset(ctx, "local", "kept"); !isCode(err, api.CodeNotFound) {
		t.Errorf("entry after delete: %v, want not found", err)
	}
	if len(filesUnder(t, kept)) == 0 {
		t.Error("a registry-only delete deleted the data")
	}
}

func TestReaderCannotChangeDatasets(t *testing.T) {
	d := newDatasetEnv(t)
	ctx := context.Background()
	dir := d.withRows(t, "pets", "some", 2)
	reader := d.browser(t)
	reader.mustLogin(d.NewUser(t, "rita", "local", "reader"))
	list := reader.wantPage("/orgs/local")
	if !strings.Contains(list.body, "al://local/pets") || strings.Contains(list.body, `action="/orgs/local/datasets"`) {
		t.Errorf("a reader's list should show the dataset and no create form:\n%s", list.body)
	}
	page := reader.wantPage("/orgs/local/datasets/pets")
	if strings.Contains(page.body, "/delete") || strings.Contains(page.body, "/visibility") {
		t.Errorf("a reader's dataset page shows delete or visibility forms:\n%s", page.body)
	}
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"create", "/orgs/local/datasets", url.Values{"kind": {"create"}, "name": {"mine"}}},
		{"delete", "/orgs/local/datasets/pets/delete", url.Values{}},
		{"delete with data", "/orgs/local/datasets/pets/delete", url.Values{"delete_data": {"on"}, "confirm": {"pets"}}},
		{"make public", "/orgs/local/datasets/pets/visibility", url.Values{"public": {"true"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := reader.submit("/orgs/local", tc.path, tc.form); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, `class="error"`) {
				t.Errorf("a reader's %s: %s, want the API's 403:\n%s", tc.name, r.Status, r.body)
			}
		})
	}
	ds, err := d.Admin(t).Datasets(ctx, "local")
	if err != nil || len(ds) != 1 || ds[0].Public {
		t.Errorf("after the reader's posts the datasets are %+v (%v), want pets only, private", ds, err)
	}
	if len(filesUnder(t, dir)) == 0 {
		t.Error("the reader's delete with data deleted objects")
	}
}

func TestVisibilityToggle(t *testing.T) {
	d := newDatasetEnv(t)
	ctx := context.Background()
	d.withRows(t, "pets", "some", 1)
	page := "/orgs/local/datasets/pets"
	writer := d.browser(t)
	writer.mustLogin(d.NewUser(t, "wes", "local", "writer"))
	if r := writer.submit(page, page+"/visibility", url.Values{"public": {"true"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("a writer making a dataset public: %s, want 403", r.Status)
	}
	wantRedirect(t, "make public", d.admin.submit(page, page+"/visibility", url.Values{"public": {"true"}}), page)
	if got, err := d.Admin(t).Dataset(ctx, "local", "pets"); err != nil || !got.Public {
		t.Fatalf("after make public: %+v %v, want public", got, err)
	}
	if body := d.admin.wantPage(page).body; !strings.Contains(body, "is now public.") || !strings.Contains(body, "Make private") {
		t.Errorf("the page does not show the dataset public:\n%s", body)
	}
}

func TestOutsiderSeesNoDatasetOrMembers(t *testing.T) {
	d := newDatasetEnv(t)
	d.withRows(t, "secret-set", "some", 1)
	outsider := d.browser(t)
	outsider.mustLogin(d.NewUser(t, "otto", "", ""))
	existing := outsider.get("/orgs/local/datasets/secret-set")
	missing := outsider.get("/orgs/local/datasets/nope")
	members := outsider.get("/orgs/local/members")
	for _, r := range []response{existing, missing, members} {
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("outsider GET %s: %s, want 403", r.Request.URL.Path, r.Status)
		}
		for _, name := range []string{"secret-set", "admin"} {
			if strings.Contains(strings.ReplaceAll(r.body, "otto", ""), ">"+name) {
				t.Errorf("outsider GET %s names %s:\n%s", r.Request.URL.Path, name, r.body)
			}
		}
	}
	if existing.body != missing.body {
		t.Errorf("an outsider can tell an existing dataset from a missing one")
	}
}

// fieldError returns the error shown next to the input, select or textarea with the given
// id: a field error between it and the next label or button, or "".
func fieldError(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	for _, end := range []string{"<label", "<button"} {
		if k := strings.Index(rest, end); k >= 0 {
			rest = rest[:k]
		}
	}
	m := regexp.MustCompile(`<p class="field-error" role="alert">([^<]+)</p>`).FindStringSubmatch(rest)
	if m == nil {
		return ""
	}
	return m[1]
}

func isCode(err error, code string) bool {
	p, ok := errors.AsType[*api.Problem](err)
	return ok && p.Code == code
}

// filesUnder returns the files below dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}
