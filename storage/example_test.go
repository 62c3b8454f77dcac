package storage_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/storage"
)

func ExampleOpenBucket() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := "file://" + filepath.ToSlash(filepath.Join(dir, "datasets", "coco"))

	// Write mode creates the directory.
	w, err := storage.OpenBucket(ctx, path, storage.Options{Mode: api.ModeWrite})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.WriteAll(ctx, "train/0.txt", []byte("hello"), nil); err != nil {
		log.Fatal(err)
	}
	w.Close()

	// Read mode is the default; keys are relative to the path.
	r, err := storage.OpenBucket(ctx, path, storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	data, err := r.ReadAll(ctx, "train/0.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))

	// The file is a plain file, without a metadata sidecar.
	entries, _ := os.ReadDir(filepath.Join(dir, "datasets", "coco", "train"))
	for _, e := range entries {
		fmt.Println(e.Name())
	}

	_, err = storage.OpenBucket(ctx, "al://acme/coco", storage.Options{})
	fmt.Println(err)
	// Output:
	// hello
	// 0.txt
	// al://acme/coco: opening al:// paths needs a tarn client: set Options.Client
}

func ExampleDeleteAll() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := "file://" + filepath.ToSlash(filepath.Join(dir, "scratch"))
	b, err := storage.OpenBucket(ctx, path, storage.Options{Mode: api.ModeWrite})
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []string{"a.txt", "train/0.txt", "train/1.txt"} {
		if err := b.WriteAll(ctx, k, []byte("x"), nil); err != nil {
			log.Fatal(err)
		}
	}
	b.Close()

	n, err := storage.DeleteAll(ctx, path, storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted", n)
	// Output: deleted 3
}
