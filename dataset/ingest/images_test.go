package ingest_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/dataset/ingest"
)

// writeImage writes a small generated image to p, PNG or JPEG by p's extension (PNG for
// any other), and returns its bytes.
func writeImage(t testing.TB, p string, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4+seed%5, 3+seed%3))
	for x := range img.Bounds().Dx() {
		for y := range img.Bounds().Dy() {
			img.Set(x, y, color.RGBA{uint8(seed * 13), uint8(x * 30), uint8(y * 40), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if ext := strings.ToLower(filepath.Ext(p)); ext == ".jpg" || ext == ".jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, buf.String())
	return buf.Bytes()
}

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// show lists images as "name=label/format" ("-" for no label).
func show(images []ingest.Image) string {
	var out []string
	for _, im := range images {
		l := "-"
		if im.Label != nil {
			l = *im.Label
		}
		out = append(out, fmt.Sprintf("%s=%s/%s", im.Name, l, im.Format))
	}
	return strings.Join(out, " ")
}

func TestFindImages(t *testing.T) {
	classes := t.TempDir()
	writeImage(t, filepath.Join(classes, "cat", "a.jpg"), 1)
	writeImage(t, filepath.Join(classes, "cat", "B.PNG"), 2)
	writeImage(t, filepath.Join(classes, "dog", "c.jpeg"), 3)
	writeImage(t, filepath.Join(classes, "dog", ".hidden.png"), 4)
	writeImage(t, filepath.Join(classes, ".git", "x.png"), 5)
	writeImage(t, filepath.Join(classes, "dog", "d.bin"), 6) // a PNG without its extension
	writeImage(t, filepath.Join(classes, "top.png"), 7)      // in no class folder
	writeFile(t, filepath.Join(classes, "README.txt"), "not an image")
	if err := os.Symlink(filepath.Join(classes, "cat", "a.jpg"), filepath.Join(classes, "cat", "e.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(classes, "cat"), filepath.Join(classes, "kitten")); err != nil {
		t.Fatal(err)
	}

	flat := t.TempDir()
	for i, n := range []string{"a.png", "b.jpg", "sub/c.png", "d.png"} {
		writeImage(t, filepath.Join(flat, n), i)
	}
	csv := func(body string) string {
		p := filepath.Join(t.TempDir(), "labels.csv")
		writeFile(t, p, body)
		return p
	}
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "notes.txt"), "text")

	for _, tc := range []struct {
		name, dir, labels, want, err string
	}{
		{name: "class folders", dir: classes,
			want: "cat/B.PNG=cat/png cat/a.jpg=cat/jpeg cat/e.jpg=cat/jpeg dog/c.jpeg=dog/jpeg dog/d.bin=dog/png top.png=-/png"},
		{name: "labels by path and base name, header and BOM", dir: flat,
			labels: csv("\ufefffilename,label\na.png,cat\n./sub/c.png, owl \nb.jpg,dog\n"),
			want:   "a.png=cat/png b.jpg=dog/jpeg d.png=-/png sub/c.png=owl/png"},
		{name: "base name", dir: flat, labels: csv("c.png,eel\n"),
			want: "a.png=-/png b.jpg=-/jpeg d.png=-/png sub/c.png=eel/png"},
		{name: "labels override class folders", dir: classes, labels: csv("a.jpg,lion\n"),
			want: "cat/B.PNG=-/png cat/a.jpg=lion/jpeg cat/e.jpg=-/jpeg dog/c.jpeg=-/jpeg dog/d.bin=-/png top.png=-/png"},
		{name: "missing dir", dir: missing, err: missing + ": no such file or directory"},
		{name: "a file, not a dir", dir: filepath.Join(flat, "a.png"), err: "a.png is not a directory"},
		{name: "no images", dir: empty, err: empty + " holds no images"},
		{name: "missing labels", dir: flat, labels: missing, err: "read labels " + missing + ": no such file or directory"},
		{name: "wrong field count", dir: flat, labels: csv("a.png,cat\nb.png\n"), err: "line 2: wrong number of fields (want filename,label)"},
		{name: "empty filename", dir: flat, labels: csv("a.png,cat\n ,dog\n"), err: "line 2: the filename is empty"},
		{name: "labels is a dir", dir: flat, labels: empty, err: "read labels " + empty + ": read " + empty + ": is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			images, err := ingest.FindImages(tc.dir, tc.labels)
			switch {
			case tc.err != "":
				if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
					t.Errorf("err %v, want one ending in %q", err, tc.err)
				}
			case err != nil:
				t.Error(err)
			case show(images) != tc.want:
				t.Errorf("images\n%s\nwant\n%s", show(images), tc.want)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{writeImage(t, filepath.Join(t.TempDir(), "x.png"), 1), "png"},
		{writeImage(t, filepath.Join(t.TempDir(), "x.jpg"), 1), "jpeg"},
		{[]byte("GIF89a......"), "gif"},
		{[]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), "webp"},
		{[]byte("BM......"), "bmp"},
		{[]byte("filename,label\n"), ""},
		{nil, ""},
	} {
		if got := ingest.Sniff(tc.data); got != tc.want {
			t.Errorf("Sniff(%.12q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}
