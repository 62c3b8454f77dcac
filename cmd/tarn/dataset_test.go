package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/render"
	"github.com/tarnhq/tarn/internal/testenv"
)

// writeImage writes a small generated image to p, PNG or JPEG by p's extension, and returns
// its bytes.
func writeImage(t *testing.T, p string, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8+seed%5, 6+seed%3))
	for x := range img.Bounds().Dx() {
		for y := range img.Bounds().Dy() {
			img.Set(x, y, color.RGBA{uint8(seed * 13), uint8(x * 30), uint8(y * 40), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(p, ".png") {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageFolder writes n images (even: PNG, odd: JPEG) to dir and a labels.csv naming a label
// for each; it returns filename -> bytes and filename -> label.
func imageFolder(t *testing.T, dir string, n int) (map[string][]byte, map[string]string) {
	t.Helper()
	imgs, labels := map[string][]byte{}, map[string]string{}
	csv := "\ufefffilename,label\n" // with a byte order mark, as spreadsheets write
	for i := range n {
		name := fmt.Sprintf("img%02d.jpg", i)
		if i%2 == 0 {
			name = fmt.Sprintf("img%02d.png", i)
		}
		imgs[name] = writeImage(t, filepath.Join(dir, name), i)
		labels[name] = []string{"cat", "dog", "bird"}[i%3]
		csv += name + "," + labels[name] + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "labels.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return imgs, labels
}

// importPets imports 4 images into al://acme/pets as writer, reads them back as reader
// (ds get, ds head), copies a tree of notes up with cp -r and reads one back with cat. It
// returns the local directory of the notes (notes/a.txt "alpha", notes/b/c.txt "gamma").
func importPets(t *testing.T, writer, reader *testEnv) string {
	t.Helper()
	src := t.TempDir()
	imgs, labels := imageFolder(t, src, 4)
	res := mustRun(t, writer, "ds", "import", src, "al://acme/pets", "--labels", filepath.Join(src, "labels.csv"))
	if res.stdout != "Imported 4 images into al://acme/pets: version 2, 4 rows.\n" {
		t.Errorf("import: %q", res.stdout)
	}
	if res = mustRun(t, reader, "ds", "get", "al://acme/pets", "1", "image"); res.stdout != string(imgs["img01.jpg"]) {
		t.Error("reader get 1 image: wrong bytes")
	}
	if res = mustRun(t, reader, "ds", "get", "al://acme/pets", "2", "label"); res.stdout != labels["img02.png"] {
		t.Errorf("reader get 2 label: %q", res.stdout)
	}
	if res = mustRun(t, reader, "ds", "head", "al://acme/pets", "-n", "2"); !strings.Contains(res.stdout, "img01.jpg") || strings.Contains(res.stdout, "img02.png") {
		t.Errorf("reader head -n 2:\n%s", res.stdout)
	}
	local := t.TempDir()
	tree(t, local, map[string]string{"notes/a.txt": "alpha", "notes/b/c.txt": "gamma"})
	mustRun(t, writer, "cp", filepath.Join(local, "notes"), "al://acme/pets/notes", "-r")
	if res = mustRun(t, reader, "cat", "al://acme/pets/notes/b/c.txt"); res.stdout != "gamma" {
		t.Errorf("cat: %q", res.stdout)
	}
	return local
}

func mustRun(t *testing.T, te *testEnv, args ...string) result {
	t.Helper()
	res := te.run(args...)
	if res.code != 0 {
		t.Fatalf("tarn %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), res.code, res.stderr, res.stdout)
	}
	return res
}

func TestDsImportRoundTrip(t *testing.T) {
	src := t.TempDir()
	imgs, labels := imageFolder(t, src, 20)
	dsDir := filepath.Join(t.TempDir(), "pets")
	te := newTestEnv(t, nil) // local paths need no server

	res := mustRun(t, te, "ds", "import", src, dsDir, "--labels", filepath.Join(src, "labels.csv"))
	if want := fmt.Sprintf("Imported 20 images into %s: version 2, 20 rows.\n", dsDir); res.stdout != want || res.stderr != "" {
		t.Errorf("import: stdout %q, stderr %q; want %q", res.stdout, res.stderr, want)
	}

	res = mustRun(t, te, "ds", "schema", dsDir)
	want := "COLUMN    TYPE   NULLABLE\nimage     image  no\nfilename  text   no\nlabel     text   yes\n"
	if res.stdout != want {
		t.Errorf("schema:\n%s\nwant\n%s", res.stdout, want)
	}
	res = mustRun(t, te, "ds", "schema", dsDir, "-o", "json")
	var cols []schemaColumn
	if err := json.Unmarshal([]byte(res.stdout), &cols); err != nil || len(cols) != 3 || cols[2].Name != "label" || !cols[2].Nullable {
		t.Errorf("schema json: %v, %s", err, res.stdout)
	}

	res = mustRun(t, te, "ds", "log", dsDir)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	logLine := regexp.MustCompile(`^2 +2025-03-01T12:00:00Z +20 +import ` + regexp.QuoteMeta(src) + `$`)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "VERSION") || !logLine.MatchString(lines[1]) ||
		!regexp.MustCompile(`^1 +2025-03-01T12:00:00Z +0 +create$`).MatchString(lines[2]) {
		t.Errorf("log:\n%s", res.stdout)
	}
	res = mustRun(t, te, "ds", "log", dsDir, "--output", "json")
	var log []logEntry
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil || len(log) != 2 || log[0].Version != 2 || log[0].Rows != 20 || log[0].Files != 1 {
		t.Errorf("log json: %v, %s", err, res.stdout)
	}

	res = mustRun(t, te, "ds", "head", dsDir, "-n", "3")
	lines = strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^# +image +filename +label$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^0 +<image png \d+ B> +img00.png +cat$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^1 +<image jpeg \d+ B> +img01.jpg +dog$`).MatchString(lines[2]) {
		t.Errorf("head:\n%s", res.stdout)
	}

	res = mustRun(t, te, "ds", "head", dsDir, "-n", "100", "-o", "json")
	var rows []struct {
		Image struct {
			Format string
			Data   []byte
		}
		Filename string
		Label    *string
	}
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil || len(rows) != 20 {
		t.Fatalf("head json: %v, %d rows", err, len(rows))
	}
	if !strings.HasPrefix(res.stdout, "[\n  {\n    \"image\": {\n      \"format\": \"png\",") {
		t.Errorf("head json does not keep the column order:\n%.200s", res.stdout)
	}
	for _, r := range rows {
		wantFormat := map[bool]string{true: "png", false: "jpeg"}[strings.HasSuffix(r.Filename, ".png")]
		if !bytes.Equal(r.Image.Data, imgs[r.Filename]) || r.Image.Format != wantFormat || r.Label == nil || *r.Label != labels[r.Filename] {
			t.Errorf("head json row %s: format %s, label %v", r.Filename, r.Image.Format, r.Label)
		}
	}

	for i, r := range rows {
		res = mustRun(t, te, "ds", "get", dsDir, fmt.Sprint(i), "image")
		if res.stdout != string(imgs[r.Filename]) {
			t.Errorf("get %d image: %d bytes, want the %d bytes of %s", i, len(res.stdout), len(imgs[r.Filename]), r.Filename)
		}
	}
	if res = mustRun(t, te, "ds", "get", dsDir, "4", "label"); res.stdout != labels["img04.png"] {
		t.Errorf("get 4 label: %q", res.stdout)
	}

	// A second import appends a version.
	more := t.TempDir()
	writeImage(t, filepath.Join(more, "extra.png"), 99)
	res = mustRun(t, te, "ds", "import", more, dsDir, "-o", "json")
	var imp imported
	if err := json.Unmarshal([]byte(res.stdout), &imp); err != nil || imp.Rows != 1 || imp.Total != 21 || imp.Version != 3 || imp.Created {
		t.Errorf("second import: %v, %s", err, res.stdout)
	}
	if res = te.run("ds", "get", dsDir, "20", "label"); res.code != 1 || res.stderr != "tarn: get row 20 column label of "+dsDir+": the value is null\n" {
		t.Errorf("get null label: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestDsImportClassFolders(t *testing.T) {
	src := t.TempDir()
	writeImage(t, filepath.Join(src, "cat", "a.jpg"), 1)
	writeImage(t, filepath.Join(src, "cat", "b.png"), 2)
	writeImage(t, filepath.Join(src, "dog", "c.jpeg"), 3)
	writeImage(t, filepath.Join(src, "dog", ".hidden.png"), 4)
	// No image extension: found by sniffing. Not an image: skipped.
	sniffed := writeImage(t, filepath.Join(src, "dog", "d.png"), 5)
	if err := os.Rename(filepath.Join(src, "dog", "d.png"), filepath.Join(src, "dog", "d.bin")); err != nil {
		t.Fatal(err)
	}
	tree(t, src, map[string]string{"README.txt": "not an image"})
	// A symbolic link to an image is an image; one to a folder is not followed.
	if err := os.Symlink(filepath.Join(src, "cat", "a.jpg"), filepath.Join(src, "cat", "e.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "cat"), filepath.Join(src, "kitten")); err != nil {
		t.Fatal(err)
	}
	dsDir := filepath.Join(t.TempDir(), "cd")
	te := newTestEnv(t, nil)
	mustRun(t, te, "ds", "import", src, dsDir)
	res := mustRun(t, te, "ds", "head", dsDir, "-o", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s=%v/%v", r["filename"], r["label"], r["image"].(map[string]any)["format"]))
	}
	if want := "cat/a.jpg=cat/jpeg cat/b.png=cat/png cat/e.jpg=cat/jpeg dog/c.jpeg=dog/jpeg dog/d.bin=dog/png"; strings.Join(got, " ") != want {
		t.Errorf("rows %v, want %s", got, want)
	}
	if res = mustRun(t, te, "ds", "get", dsDir, "4", "image"); res.stdout != string(sniffed) {
		t.Errorf("get sniffed image: wrong bytes")
	}
}

func TestDsErrors(t *testing.T) {
	src := t.TempDir()
	imageFolder(t, src, 3)
	dsDir := filepath.Join(t.TempDir(), "e")
	te := newTestEnv(t, nil)
	mustRun(t, te, "ds", "import", src, dsDir)
	badCSV := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(badCSV, []byte("a.png,cat\nb.png\n"), 0o644)
	missing := filepath.Join(t.TempDir(), "nope")
	notDS := t.TempDir()

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing DIR", []string{"ds", "import", missing, dsDir}, 1,
			"tarn: import " + missing + " into " + dsDir + ": " + missing + ": no such file or directory\n"},
		{"DIR without images", []string{"ds", "import", notDS, dsDir}, 1,
			"tarn: import " + notDS + " into " + dsDir + ": " + notDS + " holds no images\n"},
		{"missing labels", []string{"ds", "import", src, dsDir, "--labels", missing}, 1,
			"tarn: import " + src + " into " + dsDir + ": read labels " + missing + ": no such file or directory\n"},
		{"malformed labels", []string{"ds", "import", src, dsDir, "--labels", badCSV}, 1,
			"tarn: import " + src + " into " + dsDir + ": read labels " + badCSV + ": line 2: wrong number of fields (want filename,label)\n"},
		{"import args", []string{"ds", "import", src}, 2,
			"tarn: accepts 2 arg(s), DIR and PATH, received 1\nRun 'tarn ds import --help' for usage.\n"},
		{"link without key", []string{"ds", "import", "--link", src, dsDir}, 2,
			"tarn: --link needs --creds-key: the creds key the links are read through\nRun 'tarn ds import --help' for usage.\n"},
		{"unknown column", []string{"ds", "get", dsDir, "0", "nope"}, 1,
			"tarn: get row 0 column nope of " + dsDir + ": no column \"nope\" (columns: image, filename, label)\n"},
		{"row out of range", []string{"ds", "get", dsDir, "3", "image"}, 1,
			"tarn: get row 3 column image of " + dsDir + ": row 3 is out of range: the dataset has 3 rows (0 to 2)\n"},
		{"row not a number", []string{"ds", "get", dsDir, "x", "image"}, 2,
			"tarn: invalid ROW \"x\": give a row number from 0\nRun 'tarn ds get --help' for usage.\n"},
		{"negative -n", []string{"ds", "head", dsDir, "-n", "-1"}, 2,
			"tarn: invalid value -1 for -n: it must not be negative\nRun 'tarn ds head --help' for usage.\n"},
		{"labels is a directory", []string{"ds", "import", src, dsDir, "--labels", notDS}, 1,
			"tarn: import " + src + " into " + dsDir + ": read labels " + notDS + ": read " + notDS + ": is a directory\n"},
		{"not a dataset", []string{"ds", "head", notDS}, 1,
			"tarn: head " + notDS + ": file://" + notDS + ": open dataset: tarn.json is missing: not a tarn dataset\n"},
		{"missing dataset", []string{"ds", "log", missing}, 1,
			"tarn: log of " + missing + ": open dataset: file://" + missing + ": no such directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := te.run(tc.args...)
			if res.code != tc.code || (tc.stderr != "" && res.stderr != tc.stderr) {
				t.Errorf("tarn %s: exit %d, stderr\n%q\nwant exit %d, stderr\n%q", strings.Join(tc.args, " "), res.code, res.stderr, tc.code, tc.stderr)
			}
			if strings.Count(res.stderr, "\n") != 1+min(tc.code-1, 1) || !strings.HasPrefix(res.stderr, "tarn: ") {
				t.Errorf("stderr is not one line: %q", res.stderr)
			}

		})
	}
}

// TestDsLive runs the dataset commands on al:// datasets through a live control plane
// (provider file): an import by a writer, reads by a reader, and a link column whose images
// the reader gets through the creds key linked to the dataset.
func TestDsLive(t *testing.T) {
	root := t.TempDir()
	env := testenv.New(t, testenv.Options{FileRoots: []string{root}})
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	store, web := filepath.Join(root, "acme"), filepath.Join(root, "web")
	mustRun(t, admin, "org", "create", "acme")
	mustRun(t, admin, "creds", "add", "acme/disk", "--provider", "file", "--root", store)
	mustRun(t, admin, "creds", "add", "acme/web", "--provider", "file", "--root", web)
	mustRun(t, admin, "storage", "set-default", "acme", store, "--creds-key", "disk")
	writer := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "wendy", "acme", "writer")})
	reader := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "rita", "acme", "reader")})

	// Import into a registered dataset, read it back as a reader.
	src := t.TempDir()
	imgs, labels := imageFolder(t, src, 6)
	mustRun(t, writer, "ds", "create", "al://acme/pets")
	res := mustRun(t, writer, "ds", "import", src, "al://acme/pets", "--labels", filepath.Join(src, "labels.csv"))
	if res.stdout != "Imported 6 images into al://acme/pets: version 2, 6 rows.\n" {
		t.Errorf("import: %q", res.stdout)
	}
	if res = mustRun(t, reader, "ds", "get", "al://acme/pets", "1", "image"); res.stdout != string(imgs["img01.jpg"]) {
		t.Errorf("reader get 1 image: wrong bytes")
	}
	if res = mustRun(t, reader, "ds", "get", "al://acme/pets", "2", "label"); res.stdout != labels["img02.png"] {
		t.Errorf("reader get 2 label: %q", res.stdout)
	}
	if res = mustRun(t, reader, "ds", "log", "al://acme/pets"); !strings.Contains(res.stdout, "import "+src) {
		t.Errorf("reader log:\n%s", res.stdout)
	}
	if res = reader.run("ds", "import", src, "al://acme/pets"); res.code != 1 || !strings.HasPrefix(res.stderr, "tarn: import "+src+" into al://acme/pets: ") || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("reader import: exit %d, stderr %q", res.code, res.stderr)
	}
	t.Log(res.stderr)

	// A link column over images elsewhere, read through the linked creds key.
	webImgs := map[string][]byte{
		"a/one.jpg": writeImage(t, filepath.Join(web, "a", "one.jpg"), 7),
		"two.png":   writeImage(t, filepath.Join(web, "two.png"), 8),
	}
	tree(t, web, map[string]string{"notes.txt": "skipped"})
	mustRun(t, writer, "ds", "create", "al://acme/web")
	// The key must be linked to the dataset first.
	res = writer.run("ds", "import", "--link", web, "al://acme/web", "--creds-key", "web")
	if res.code != 1 || !strings.HasPrefix(res.stderr, "tarn: import links to "+web+" into al://acme/web: ") || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("import --link with an unlinked key: exit %d, stderr %q", res.code, res.stderr)
	}
	t.Log(res.stderr)
	mustRun(t, admin, "ds", "add-creds-key", "al://acme/web", "web")
	res = mustRun(t, writer, "ds", "import", "--link", web, "al://acme/web", "--creds-key", "web")
	if want := "Linked 2 images below file://" + filepath.ToSlash(web) + " into al://acme/web: version 2, 2 rows.\n"; res.stdout != want {
		t.Errorf("import --link: %q, want %q", res.stdout, want)
	}
	res = mustRun(t, reader, "ds", "schema", "al://acme/web")
	if !regexp.MustCompile(`url +link\(image\) +no`).MatchString(res.stdout) {
		t.Errorf("schema:\n%s", res.stdout)
	}
	for i, name := range []string{"a/one.jpg", "two.png"} {
		if res = mustRun(t, reader, "ds", "get", "al://acme/web", fmt.Sprint(i), "url"); res.stdout != string(webImgs[name]) {
			t.Errorf("reader get %d url: %d bytes, want those of %s", i, len(res.stdout), name)
		}
		if res = mustRun(t, reader, "ds", "get", "al://acme/web", fmt.Sprint(i), "filename"); res.stdout != name {
			t.Errorf("reader get %d filename: %q", i, res.stdout)
		}
	}
}

func TestDsImportProgress(t *testing.T) {
	src := t.TempDir()
	imageFolder(t, src, 3)
	te := newTestEnv(t, nil)
	te.stderrTerminal = true
	res := mustRun(t, te, "ds", "import", src, filepath.Join(t.TempDir(), "p"))
	if !strings.Contains(res.stderr, "[3/3] img02.png") || !strings.HasSuffix(res.stderr, "\r\x1b[K") || !strings.HasPrefix(res.stdout, "Imported 3 images") {
		t.Errorf("stdout %q, stderr %q", res.stdout, res.stderr)
	}
	te.stderrTerminal = false
	if res = mustRun(t, te, "ds", "import", src, filepath.Join(t.TempDir(), "q")); res.stderr != "" {
		t.Errorf("progress without a terminal: %q", res.stderr)
	}
}

func TestDsHeadAndGetOfEveryType(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "types")
	d, err := dataset.CreatePath(ctx, dir, dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "f", Type: dataset.T(dataset.Float32)},
		dataset.Column{Name: "ok", Type: dataset.T(dataset.Bool)},
		dataset.Column{Name: "meta", Type: dataset.T(dataset.JSON)},
		dataset.Column{Name: "raw", Type: dataset.T(dataset.Bytes)},
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(2)},
		dataset.Column{Name: "mask", Type: dataset.TensorOf(dataset.Uint8, 3)},
		dataset.Column{Name: "link", Type: dataset.LinkTo(dataset.Bytes), Nullable: true},
	), dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := d.Appender(dataset.AppenderOptions{})
	err = w.Append(ctx, dataset.Row{
		"n": int64(-7), "f": float32(math.NaN()), "ok": true, "meta": `{"a":[1,2]}`, "raw": []byte{0, 1, 2},
		"emb": []float32{0.5, -1}, "mask": []uint8{1, 0, 255},
	})
	if err == nil {
		_, err = w.Commit(ctx, "one row")
	}
	w.Close()
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	te := newTestEnv(t, nil)
	res := mustRun(t, te, "ds", "head", dir)
	if !regexp.MustCompile(`\n0 +-7 +NaN +true +\{"a":\[1,2\]\} +<bytes 3 B> +\[0\.5,-1\] +\[1,0,255\] +null\n$`).MatchString(res.stdout) {
		t.Errorf("head:\n%s", res.stdout)
	}
	res = mustRun(t, te, "ds", "head", dir, "-o", "json")
	want := `[{"n":-7,"f":"NaN","ok":true,"meta":{"a":[1,2]},"raw":"AAEC","emb":[0.5,-1],"mask":[1,0,255],"link":null}]`
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(res.stdout)); err != nil || compact.String() != want {
		t.Errorf("head json: %v\n%s\nwant\n%s", err, compact.String(), want)
	}
	for col, want := range map[string]string{
		"n": "-7\n", "f": "NaN\n", "ok": "true\n", "meta": `{"a":[1,2]}`, "raw": "\x00\x01\x02",
		"emb": "[0.5,-1]\n", "mask": "[1,0,255]\n",
	} {
		if res = mustRun(t, te, "ds", "get", dir, "0", col); res.stdout != want {
			t.Errorf("get %s: %q, want %q", col, res.stdout, want)
		}
	}
}

// ds info shows the registry entry and, read with the caller's read credentials, what the
// dataset holds: its version, rows, bytes, columns and last commit; version 0 for a
// dataset without data; the entry and a note for one the caller cannot read.
func TestDsInfo(t *testing.T) {
	ctx := context.Background()
	full, empty, missing := filepath.Join(t.TempDir(), "full"), t.TempDir(), filepath.Join(t.TempDir(), "missing")
	d, err := dataset.CreatePath(ctx, full, dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "s", Type: dataset.T(dataset.Text)},
	), dataset.PathOptions{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	w := d.Appender(dataset.AppenderOptions{})
	if err := w.Append(ctx, dataset.Row{"n": 1, "s": "a"}, dataset.Row{"n": 2, "s": "b"}); err != nil {
		t.Fatal(err)
	}
	v, err := w.Commit(ctx, "two")
	w.Close()
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	size := v.Files[0].Bytes

	entry := func(dir string) string {
		return `{"org":"acme","name":"coco","path":"al://acme/coco","location":"file://` + dir + `","creds_key":"local","public":false,"linked_creds_keys":[],"created_at":"2025-03-01T11:00:00Z","created_by":"alice"}`
	}
	vend := func(dir string) route {
		return route{200, `{"location":"file://` + dir + `","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"` + dir + `"}}`}
	}
	denied := route{403, `{"title":"Forbidden","status":403,"code":"permission_denied","detail":"the creds key local is disabled"}`}
	registry := "path:              al://acme/coco\nlocation:          file://%s\ncreds key:         local\nvisibility:        private\nlinked creds keys: -\ncreated:           2025-03-01T11:00:00Z\ncreated by:        alice\n"
	for _, tc := range []struct {
		name, dir   string
		vend        route
		text, note  string
		json        map[string]any // fields beyond the registry's
		noDataField bool
	}{
		{name: "with data", dir: full, vend: vend(full),
			text: fmt.Sprintf(registry, full) + fmt.Sprintf("version:           2\nrows:              2\nsize:              %s (%d bytes)\ncolumns:           2\nupdated:           2025-03-01T12:00:00Z\n", render.Size(size), size),
			json: map[string]any{"version": 2.0, "rows": 2.0, "bytes": float64(size), "columns": 2.0, "updated_at": "2025-03-01T12:00:00Z"}},
		{name: "registered, no data yet", dir: empty, vend: vend(empty),
			text: fmt.Sprintf(registry, empty) + "version:           0\nrows:              0\nsize:              0 B (0 bytes)\ncolumns:           0\nupdated:           -\n",
			json: map[string]any{"version": 0.0, "rows": 0.0, "bytes": 0.0, "columns": 0.0, "updated_at": nil}},
		{name: "registered, no directory yet", dir: missing, vend: vend(missing),
			text: fmt.Sprintf(registry, missing) + "version:           0\nrows:              0\nsize:              0 B (0 bytes)\ncolumns:           0\nupdated:           -\n",
			json: map[string]any{"version": 0.0, "rows": 0.0, "bytes": 0.0, "columns": 0.0, "updated_at": nil}},
		{name: "unreadable", dir: full, vend: denied, text: fmt.Sprintf(registry, full),
			note: "note: cannot read al://acme/coco, showing its registry entry only: open dataset: al://acme/coco: vend read credentials: the creds key local is disabled", noDataField: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{
				"GET /api/v1/orgs/acme/datasets/coco":              {200, entry(tc.dir)},
				"POST /api/v1/orgs/acme/datasets/coco/credentials": tc.vend,
			})
			te := envFor(t, srv)
			res := te.run("ds", "info", "al://acme/coco")
			if res.code != 0 || res.stdout != tc.text || !strings.HasPrefix(res.stderr, tc.note) || strings.Count(res.stderr, "\n") != min(len(tc.note), 1) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr: %q\nwant stdout:\n%s\nwant a note %q", res.code, res.stdout, res.stderr, tc.text, tc.note)
			}
			res = te.run("ds", "info", "al://acme/coco", "-o", "json")
			var got, reg map[string]any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || res.code != 0 {
				t.Fatalf("json: exit %d, %v: %s", res.code, err, res.stdout)
			}
			json.Unmarshal([]byte(entry(tc.dir)), &reg)
			for k, v := range reg {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("json %s = %v, want %v", k, got[k], v)
				}
			}
			for k, v := range tc.json {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("json %s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			if _, ok := got["version"]; tc.noDataField && ok {
				t.Errorf("json of an unreadable dataset has a version: %s", res.stdout)
			}
			if len(got) != len(reg)+len(tc.json) {
				t.Errorf("json has %d fields, want %d: %s", len(got), len(reg)+len(tc.json), res.stdout)
			}
		})
	}
}

// ds import into an al:// dataset that is not registered creates it in the org's default
// storage, as ds create does, and says so; without default storage it says what to run,
// and a folder without images registers nothing.
func TestDsImportCreatesTheDataset(t *testing.T) {
	root := t.TempDir()
	env := testenv.New(t, testenv.Options{FileRoots: []string{root}})
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	store := filepath.Join(root, "acme")
	mustRun(t, admin, "org", "create", "acme")
	mustRun(t, admin, "org", "create", "lab")
	mustRun(t, admin, "creds", "add", "acme/disk", "--provider", "file", "--root", store)
	mustRun(t, admin, "storage", "set-default", "acme", store, "--creds-key", "disk")
	writer := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "wendy", "acme", "writer")})
	mustRun(t, admin, "org", "member", "add", "lab", "wendy", "--role", "writer")
	src := t.TempDir()
	imageFolder(t, src, 3)

	// A folder without images registers nothing.
	res := writer.run("ds", "import", t.TempDir(), "al://acme/pets")
	if res.code != 1 || !strings.Contains(res.stderr, "holds no images") {
		t.Errorf("import of an empty folder: exit %d, stderr %q", res.code, res.stderr)
	}
	if res = writer.run("ds", "info", "al://acme/pets"); res.code != 1 {
		t.Errorf("the empty folder's import registered al://acme/pets: %s", res.stdout)
	}

	res = mustRun(t, writer, "ds", "import", src, "al://acme/pets")
	wantErr := "Created al://acme/pets at file://" + filepath.ToSlash(filepath.Join(store, "pets")) + " (creds key disk, private).\n"
	if res.stdout != "Imported 3 images into al://acme/pets: version 2, 3 rows.\n" || res.stderr != wantErr {
		t.Errorf("import: stdout %q, stderr %q; want stderr %q", res.stdout, res.stderr, wantErr)
	}
	res = mustRun(t, writer, "ds", "info", "al://acme/pets")
	if !regexp.MustCompile(`(?m)^version: +2\nrows: +3\n`).MatchString(res.stdout) || !strings.Contains(res.stdout, "creds key:         disk\n") {
		t.Errorf("info after the import:\n%s", res.stdout)
	}

	// In JSON mode, the output says so and stderr stays quiet.
	res = mustRun(t, writer, "ds", "import", src, "al://acme/more", "-o", "json")
	var imp imported
	if err := json.Unmarshal([]byte(res.stdout), &imp); err != nil || !imp.Created || imp.Total != 3 || res.stderr != "" {
		t.Errorf("json import: %v, %s, stderr %q", err, res.stdout, res.stderr)
	}
	// A second import appends; nothing is created.
	if res = mustRun(t, writer, "ds", "import", src, "al://acme/pets"); res.stderr != "" || !strings.Contains(res.stdout, "version 3, 6 rows") {
		t.Errorf("second import: stdout %q, stderr %q", res.stdout, res.stderr)
	}

	// An org without default storage: one line saying what to do.
	res = writer.run("ds", "import", src, "al://lab/pets")
	want := `tarn: import ` + src + ` into al://lab/pets: al://lab/pets is not registered, and org lab has no default storage to create it in: run "tarn storage set-default lab LOCATION --creds-key KEY" first, or register the dataset with "tarn ds create" or "tarn ds connect"` + "\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("import into an org without default storage: exit %d\n%q\nwant\n%q", res.code, res.stderr, want)
	}
}
