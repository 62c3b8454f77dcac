package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestDsQuery(t *testing.T) {
	src := t.TempDir()
	imageFolder(t, src, 20) // image i: (8 + i%5) × (6 + i%3), label cat, dog, bird by i%3
	dsDir := filepath.Join(t.TempDir(), "pets")
	te := newTestEnv(t, nil)
	mustRun(t, te, "ds", "import", src, dsDir, "--labels", filepath.Join(src, "labels.csv"))

	where := `label == "cat" && image.width > 9`
	res := mustRun(t, te, "ds", "query", dsDir, "--where", where, "--columns", "filename,label")
	want := "#   filename   label\n3   img03.jpg  cat\n9   img09.jpg  cat\n12  img12.png  cat\n18  img18.png  cat\n"
	if res.stdout != want {
		t.Errorf("query:\n%s\nwant\n%s", res.stdout, want)
	}

	res = mustRun(t, te, "ds", "query", dsDir, "--where", `image.format == "png" && image.height == 8`, "-o", "json")
	var rows []struct {
		Row    int64
		Values struct {
			Image    struct{ Format string }
			Filename string
		}
	}
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatalf("query json: %v\n%s", err, res.stdout)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Values.Filename)
		if r.Values.Image.Format != "png" {
			t.Errorf("row %d: image %+v", r.Row, r.Values.Image)
		}
	}
	if strings.Join(got, " ") != "img02.png img08.png img14.png" {
		t.Errorf("query json rows %v", got)
	}

	res = mustRun(t, te, "ds", "query", dsDir, "--where", `label != "dog"`, "--order-by", "filename", "--desc", "--limit", "2", "--offset", "1", "--columns", "filename")
	if want := "#   filename\n17  img17.jpg\n15  img15.jpg\n"; res.stdout != want {
		t.Errorf("order by:\n%s\nwant\n%s", res.stdout, want)
	}
	if res = mustRun(t, te, "ds", "query", dsDir, "--where", `label == "bird"`, "--count"); res.stdout != "6\n" {
		t.Errorf("count: %q", res.stdout)
	}
	if res = mustRun(t, te, "ds", "query", dsDir, "--count", "--version", "1", "-o", "json"); res.stdout != "{\n  \"count\": 0\n}\n" {
		t.Errorf("count of version 1: %q", res.stdout)
	}
	if res = mustRun(t, te, "ds", "query", dsDir, "--where", "false", "-o", "json"); res.stdout != "[]\n" {
		t.Errorf("no rows json: %q", res.stdout)
	}

	// Errors point at the expression.
	res = te.run("ds", "query", dsDir, "--where", `label == "cat" && image.widht > 3`)
	if want := "tarn: query " + dsDir + ": where 1:24: undefined field 'widht'\n  | label == \"cat\" && image.widht > 3\n  |                        ^\nRun 'tarn ds query --help' for usage.\n"; res.code != 2 || res.stderr != want {
		t.Errorf("bad field: exit %d, stderr\n%s\nwant\n%s", res.code, res.stderr, want)
	}
	for _, args := range [][]string{{"--desc"}, {"--count", "--limit", "3"}, {"--limit", "-1"}} {
		if res = te.run(append([]string{"ds", "query", dsDir}, args...)...); res.code != 2 {
			t.Errorf("query %v: exit %d, stderr %q; want a usage error", args, res.code, res.stderr)
		}
	}

	// --save writes a new dataset whose version 1 holds the rows and records their source.
	saved := filepath.Join(t.TempDir(), "cats")
	res = mustRun(t, te, "ds", "query", dsDir, "--where", where, "--columns", "image,filename", "--save", saved)
	srcPath := "file://" + filepath.ToSlash(dsDir)
	source := "query of " + srcPath + " version 2 where " + where + " columns image,filename"
	if want := "Saved 4 rows to " + saved + " as version 1.\nSource: " + source + "\n"; res.stdout != want {
		t.Errorf("save: %q\nwant %q", res.stdout, want)
	}
	res = mustRun(t, te, "ds", "log", saved)
	if !regexp.MustCompile(`^VERSION +TIME +ROWS +MESSAGE\n1 +\S+ +4 +` + regexp.QuoteMeta(source) + `\n$`).MatchString(res.stdout) {
		t.Errorf("log of saved: want version 1 only, with 4 rows and the source:\n%s", res.stdout)
	}
	res = mustRun(t, te, "ds", "log", saved, "-o", "json")
	var log []struct {
		Version, Rows int64
		Source        *dataset.Source
	}
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil {
		t.Fatalf("log json: %v\n%s", err, res.stdout)
	}
	wantSrc := dataset.Source{Dataset: srcPath, Version: 2, Where: where, Columns: []string{"image", "filename"}}
	if len(log) != 1 || log[0].Version != 1 || log[0].Rows != 4 || log[0].Source == nil || !reflect.DeepEqual(*log[0].Source, wantSrc) {
		t.Errorf("log json of saved: %s", res.stdout)
	}
	if res = mustRun(t, te, "ds", "query", saved, "--where", "image.width > 9", "--count"); res.stdout != "4\n" {
		t.Errorf("count of saved: %q", res.stdout)
	}
	if res = te.run("ds", "query", dsDir, "--save", saved); res.code != 1 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("save over a dataset: exit %d, stderr %q", res.code, res.stderr)
	}

	// --output json has the structured source; a dataset of its own is made for --order-by.
	top := filepath.Join(t.TempDir(), "top")
	res = mustRun(t, te, "ds", "query", dsDir, "--order-by", "filename", "--desc", "--limit", "3", "--offset", "1", "--save", top, "-o", "json")
	var answer struct {
		Path          string
		Rows, Version int64
		Source        dataset.Source
	}
	if err := json.Unmarshal([]byte(res.stdout), &answer); err != nil {
		t.Fatalf("save json: %v\n%s", err, res.stdout)
	}
	wantSrc = dataset.Source{Dataset: srcPath, Version: 2, OrderBy: "filename", Desc: true, Limit: 3, Offset: 1}
	if answer.Path != top || answer.Rows != 3 || answer.Version != 1 || !reflect.DeepEqual(answer.Source, wantSrc) {
		t.Errorf("save json: %s", res.stdout)
	}
	if res = mustRun(t, te, "ds", "query", top, "--columns", "filename"); res.stdout != "#  filename\n0  img18.png\n1  img17.jpg\n2  img16.png\n" {
		t.Errorf("rows saved by --order-by filename --desc --offset 1 --limit 3:\n%s", res.stdout)
	}

	// A bad expression is caught before anything is created.
	bad := filepath.Join(t.TempDir(), "bad")
	if res = te.run("ds", "query", dsDir, "--where", "label ==", "--save", bad); res.code != 2 {
		t.Errorf("save with a bad expression: exit %d, stderr %q", res.code, res.stderr)
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("save with a bad expression made %s: %v", bad, err)
	}
}

// TestDsQueryNearestAndSample: --nearest finds the rows nearest to --to, nearest first with
// their distances, among the rows --where lets through; --sample draws reproducibly for a
// seed, never a row --where refuses or --sample-by weighs 0.
func TestDsQueryNearestAndSample(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "emb")
	d, err := dataset.CreatePath(ctx, dir, dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(2)},
	), dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := d.Appender(dataset.AppenderOptions{})
	for i := range 40 { // row i points at angle i degrees; label rare for every tenth
		a := float64(i) * math.Pi / 180
		label := map[bool]string{true: "rare", false: "common"}[i%10 == 0]
		if err = w.Append(ctx, dataset.Row{"id": int64(i), "label": label, "emb": []float32{float32(math.Cos(a)), float32(math.Sin(a))}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err = w.Commit(ctx, "40 rows"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	d.Close()
	te := newTestEnv(t, nil)

	// Nearest to 20 degrees: 20, then 19 and 21 (as good as tied in float32), then 18.
	res := mustRun(t, te, "ds", "query", dir, "--nearest", "emb", "--to", "[0.9396926, 0.3420201]", "-k", "4", "--columns", "id", "-o", "json")
	var nn []struct {
		Row      int64
		Distance float64
		Values   struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(res.stdout), &nn); err != nil {
		t.Fatalf("nearest json: %v\n%s", err, res.stdout)
	}
	var ids []int64
	for _, n := range nn {
		ids = append(ids, n.Values.ID)
		if n.Row != n.Values.ID {
			t.Errorf("row %d holds id %d", n.Row, n.Values.ID)
		}
	}
	if s := fmt.Sprint(ids); (s != "[20 19 21 18]" && s != "[20 21 19 18]") || nn[0].Distance > 1e-6 || !(nn[1].Distance > nn[0].Distance) {
		t.Errorf("nearest: %+v; want ids 20, 19 and 21, 18, nearest first", nn)
	}
	res = mustRun(t, te, "ds", "query", dir, "--nearest", "emb", "--to", "[0.9396926, 0.3420201]", "-k", "2", "--where", `label == "rare"`, "--columns", "id,label")
	if want := regexp.MustCompile(`^#\s+distance\s+id\s+label\n20\s+0\s+20\s+rare\n(10|30)\s+\S+\s+(10|30)\s+rare\n$`); !want.MatchString(res.stdout) {
		t.Errorf("nearest with --where:\n%s", res.stdout)
	}

	sample := func(args ...string) []int64 {
		t.Helper()
		res := mustRun(t, te, append([]string{"ds", "query", dir, "--columns", "id", "-o", "json"}, args...)...)
		var rows []struct{ Values struct{ ID int64 } }
		if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
			t.Fatalf("sample json: %v\n%s", err, res.stdout)
		}
		var ids []int64
		for _, r := range rows {
			ids = append(ids, r.Values.ID)
		}
		return ids
	}
	a, b := sample("--sample", "5", "--seed", "7"), sample("--sample", "5", "--seed", "7")
	if len(a) != 5 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("samples of one seed: %v and %v; want the same 5 rows", a, b)
	}
	if c := sample("--sample", "5", "--seed", "8"); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Errorf("seeds 7 and 8 drew the same sample %v", a)
	}
	for _, args := range [][]string{{"--where", `label == "rare"`}, {"--sample-by", `label == "rare" ? 1.0 : 0.0`}} {
		got := sample(append([]string{"--sample", "10", "--seed", "1"}, args...)...)
		if len(got) != 4 {
			t.Errorf("sample %v: %v; want the 4 rare rows", args, got)
		}
		for _, id := range got {
			if id%10 != 0 {
				t.Errorf("sample %v drew common row %d", args, id)
			}
		}
	}
	for _, args := range [][]string{{"--nearest", "emb"}, {"--to", "[1]"}, {"--nearest", "emb", "--to", "[1,0]", "--sample", "3"},
		{"--sample", "3", "--limit", "2"}, {"--seed", "3"}, {"--nearest", "emb", "--to", "not json"}, {"--sample", "3", "--sample-by", "label"}} {
		if res := te.run(append([]string{"ds", "query", dir}, args...)...); res.code == 0 {
			t.Errorf("query %v: exit 0, stdout %q; want an error", args, res.stdout)
		}
	}
}

// TestDsQuerySaveLive: --save to an al:// path that is not registered registers it in the
// org's default storage and writes version 1 there with the source; a save that fails
// midway (a corrupt data file of the source) leaves neither data nor the registry entry,
// and the same path can be saved to afterwards.
func TestDsQuerySaveLive(t *testing.T) {
	root := t.TempDir()
	env := testenv.New(t, testenv.Options{FileRoots: []string{root}})
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	store := filepath.Join(root, "acme")
	mustRun(t, admin, "org", "create", "acme")
	mustRun(t, admin, "creds", "add", "acme/disk", "--provider", "file", "--root", store)
	mustRun(t, admin, "storage", "set-default", "acme", store, "--creds-key", "disk")
	writer := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "wendy", "acme", "writer")})
	src := t.TempDir()
	imageFolder(t, src, 6) // labels cat, dog, bird, cat, dog, bird
	mustRun(t, writer, "ds", "import", src, "al://acme/pets", "--labels", filepath.Join(src, "labels.csv"))
	mustRun(t, writer, "ds", "import", src, "al://acme/pets", "--labels", filepath.Join(src, "labels.csv")) // version 3: a second data file

	res := mustRun(t, writer, "ds", "query", "al://acme/pets", "--where", `label == "cat"`, "--save", "al://acme/cats")
	if want := "Saved 4 rows to al://acme/cats as version 1.\nSource: query of al://acme/pets version 3 where label == \"cat\"\n"; res.stdout != want || !strings.HasPrefix(res.stderr, "Created al://acme/cats at ") {
		t.Errorf("save: stdout %q, stderr %q; want %q", res.stdout, res.stderr, want)
	}
	res = mustRun(t, writer, "ds", "log", "al://acme/cats", "-o", "json")
	var log []struct {
		Version, Rows int64
		Source        *dataset.Source
	}
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil {
		t.Fatal(err)
	}
	want := dataset.Source{Dataset: "al://acme/pets", Version: 3, Where: `label == "cat"`}
	if len(log) != 1 || log[0].Version != 1 || log[0].Rows != 4 || log[0].Source == nil || !reflect.DeepEqual(*log[0].Source, want) {
		t.Errorf("log of al://acme/cats: %s", res.stdout)
	}

	// A bad expression registers nothing.
	if res = writer.run("ds", "query", "al://acme/pets", "--where", "label ==", "--save", "al://acme/bad"); res.code != 2 || strings.Contains(res.stderr, "Created") {
		t.Errorf("save with a bad expression: exit %d, stderr %q", res.code, res.stderr)
	}
	if res = writer.run("ds", "info", "al://acme/bad"); res.code != 1 {
		t.Errorf("info of al://acme/bad after a bad expression: exit %d, stdout %q", res.code, res.stdout)
	}

	// The second data file of pets is corrupt: the rows of the first are read, then the
	// query fails.
	pets, err := dataset.OpenPath(context.Background(), filepath.Join(store, "pets"), dataset.PathOptions{Mode: "read"})
	if err != nil {
		t.Fatal(err)
	}
	files := pets.Info().Files
	pets.Close()
	if len(files) != 2 {
		t.Fatalf("pets has %d data files, want 2", len(files))
	}
	second := filepath.Join(store, "pets", filepath.FromSlash(files[1].Path))
	if err := os.WriteFile(second, make([]byte, files[1].Bytes), 0o644); err != nil {
		t.Fatal(err)
	}
	res = writer.run("ds", "query", "al://acme/pets", "--save", "al://acme/broken")
	if res.code != 1 || !strings.Contains(res.stderr, "Created al://acme/broken") || !strings.Contains(res.stderr, "Removed al://acme/broken again: the save failed.\n") || !strings.Contains(res.stderr, files[1].Path) {
		t.Errorf("save of a corrupt dataset: exit %d, stderr %q", res.code, res.stderr)
	}
	if res = writer.run("ds", "info", "al://acme/broken"); res.code != 1 {
		t.Errorf("info of al://acme/broken after a failed save: exit %d, stdout %q", res.code, res.stdout)
	}
	if left := regularFiles(t, filepath.Join(store, "broken")); len(left) > 0 {
		t.Errorf("a failed save left %v", left)
	}
	res = mustRun(t, writer, "ds", "query", "al://acme/pets", "--version", "2", "--save", "al://acme/broken")
	if !strings.HasPrefix(res.stdout, "Saved 6 rows to al://acme/broken as version 1.\n") {
		t.Errorf("save again after a failed save: %q", res.stdout)
	}
}

// regularFiles returns the regular files below dir; none when dir does not exist.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}
