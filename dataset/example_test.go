package dataset_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/storage"
)

// Create a dataset, append rows and commit them as a version.
func ExampleCreate() {
	ctx := context.Background()
	b, err := storage.OpenBucket(ctx, "mem://example-create/pets", storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ds, err := dataset.Create(ctx, b, dataset.NewSchema(
		dataset.Column{Name: "name", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "photo", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "embedding", Type: dataset.EmbeddingOf(3), Nullable: true},
	), dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	err = w.Append(ctx,
		dataset.Row{"name": "rex", "photo": dataset.ImageValue{Format: "jpeg", Data: []byte("...")}, "embedding": []float32{0.1, 0.2, 0.3}},
		dataset.Row{"name": "tom", "photo": dataset.ImageValue{Format: "png", Data: []byte("...")}},
	)
	if err != nil {
		log.Fatal(err)
	}
	v, err := w.Commit(ctx, "first pets")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Version, v.Message, v.Rows)
	fmt.Println(ds.Schema())
	// Output:
	// 2 first pets 2
	// name text, photo image, embedding embedding(3)?
}

// Open a dataset and stream its rows, as a training loop would.
func ExampleDataset_Iter() {
	ctx := context.Background()
	b, err := storage.OpenBucket(ctx, "mem://example-iter/numbers", storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	seedNumbers(ctx, "mem://example-iter/numbers")

	ds, err := dataset.Open(ctx, b, dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", ds.Version(), "rows", ds.Len())
	for row, err := range ds.Iter(ctx, dataset.IterOptions{Columns: []string{"n"}, Prefetch: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(row["n"])
	}
	// Output:
	// version 2 rows 3
	// 1
	// 2
	// 3
}

// seedNumbers makes a dataset of the numbers 1 to 3 and their squares at path.
func seedNumbers(ctx context.Context, path string) {
	b, err := storage.OpenBucket(ctx, path, storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "square", Type: dataset.T(dataset.Int64)},
	), dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	for n := 1; n <= 3; n++ {
		w.Append(ctx, dataset.Row{"n": n, "square": n * n})
	}
	if _, err := w.Commit(ctx, "numbers"); err != nil {
		log.Fatal(err)
	}
}

// Read rows by index, with a projection, at the latest and at an earlier version.
func ExampleDataset_Rows() {
	ctx := context.Background()
	seedNumbers(ctx, "mem://example-rows/numbers")
	b, err := storage.OpenBucket(ctx, "mem://example-rows/numbers", storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ds, err := dataset.Open(ctx, b, dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	rows, err := ds.Rows(ctx, 1, 3, "square")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rows)
	row, err := ds.Row(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(row)

	first, err := dataset.OpenVersion(ctx, b, 1, dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version 1 has", first.Len(), "rows")
	// Output:
	// [map[square:4] map[square:9]]
	// map[n:1 square:1]
	// version 1 has 0 rows
}

// Add a column: rows already in the dataset read as null in it.
func ExampleDataset_AddColumn() {
	ctx := context.Background()
	seedNumbers(ctx, "mem://example-addcolumn/numbers")
	b, err := storage.OpenBucket(ctx, "mem://example-addcolumn/numbers", storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ds, err := dataset.Open(ctx, b, dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	v, err := ds.AddColumn(ctx, dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Version, v.Message)
	row, err := ds.Row(ctx, 0, "n", "label")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(row)
	vs, err := ds.Versions(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vs {
		fmt.Println(v.Version, v.Message, v.Schema)
	}
	// Output:
	// 3 add column label
	// map[label:<nil> n:1]
	// 1 create n int64, square int64
	// 2 numbers n int64, square int64
	// 3 add column label n int64, square int64, label text?
}
