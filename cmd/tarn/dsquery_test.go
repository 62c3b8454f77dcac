package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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

	// --save writes a new dataset that records where its rows came from.
	saved := filepath.Join(t.TempDir(), "cats")
	res = mustRun(t, te, "ds", "query", dsDir, "--where", where, "--columns", "image,filename", "--save", saved)
	source := "query of " + dsDir + " version 2 where " + where
	if want := "Saved 4 rows to " + saved + ": version 2, \"" + strings.ReplaceAll(source, `"`, `\"`) + "\".\n"; res.stdout != want {
		t.Errorf("save: %q\nwant %q", res.stdout, want)
	}
	res = mustRun(t, te, "ds", "log", saved)
	if !regexp.MustCompile(`(?m)^2 +\S+ +4 +` + regexp.QuoteMeta(source) + `$`).MatchString(res.stdout) {
		t.Errorf("log of saved:\n%s", res.stdout)
	}
	if res = mustRun(t, te, "ds", "query", saved, "--where", "image.width > 9", "--count"); res.stdout != "4\n" {
		t.Errorf("count of saved: %q", res.stdout)
	}
	if res = te.run("ds", "query", dsDir, "--save", saved); res.code != 1 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("save over a dataset: exit %d, stderr %q", res.code, res.stderr)
	}
}
