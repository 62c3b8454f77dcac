package ingest_test

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/ingest"
)

// photos makes a folder of class folders, cat/ and dog/, with one small PNG each.
func photos() string {
	dir, err := os.MkdirTemp("", "photos-")
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"cat/tom.png", "dog/rex.png"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.Create(p)
		if err != nil {
			log.Fatal(err)
		}
		png.Encode(f, image.NewGray(image.Rect(0, 0, 2, 2)))
		f.Close()
	}
	return dir
}

// Import a folder of images whose class folders are their labels, showing progress. For an
// al:// dataset, set DirOptions.Path.Client to a *client.Client.
func ExampleDir() {
	ctx := context.Background()
	src := photos()
	defer os.RemoveAll(src)
	res, err := ingest.Dir(ctx, src, "mem://example-ingest/pets", ingest.DirOptions{
		Progress: func(p ingest.Progress) { fmt.Printf("[%d/%d] %s\n", p.Done, p.Total, p.Name) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created, "rows:", res.Rows, "version:", res.Version.Version)

	ds, err := dataset.OpenPath(ctx, "mem://example-ingest/pets", dataset.PathOptions{Mode: api.ModeRead})
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	rows, err := ds.Rows(ctx, 0, ds.Len(), "filename", "label")
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r["filename"], r["label"])
	}
	// Output:
	// [1/2] cat/tom.png
	// [2/2] dog/rex.png
	// created: true rows: 2 version: 2
	// cat/tom.png cat
	// dog/rex.png dog
}

// Find the images of a folder and their labels without importing them.
func ExampleFindImages() {
	src := photos()
	defer os.RemoveAll(src)
	images, err := ingest.FindImages(src, "")
	if err != nil {
		log.Fatal(err)
	}
	for _, im := range images {
		fmt.Println(im.Name, im.Format, *im.Label)
	}
	// Output:
	// cat/tom.png png cat
	// dog/rex.png png dog
}

// Link to images stored elsewhere instead of copying them. Here both are local; for an
// al:// dataset the creds key must be linked to it first (tarn ds add-creds-key).
func ExampleLinks() {
	ctx := context.Background()
	src := photos()
	defer os.RemoveAll(src)
	res, err := ingest.Links(ctx, src, "mem://example-links/web", ingest.LinkOptions{CredsKey: "web-images"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("linked", res.Rows, "images")
	ds, err := dataset.OpenPath(ctx, "mem://example-links/web", dataset.PathOptions{Mode: api.ModeRead})
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	fmt.Println(ds.Schema())
	// Output:
	// linked 2 images
	// url link(image), filename text
}
