package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
)

// Create a dataset in your own bucket through one of your org's creds keys, then register
// it as al://acme/coco so that members open it by name.
func ExampleCreatePath() {
	tb := &exampleTB{}
	defer tb.done()
	e := newTarn(tb) // a tarn whose org acme has the creds key minio for s3://BUCKET
	ctx := context.Background()

	// alice (a writer of acme) creates the dataset at a location the creds key covers:
	// the control plane vends write credentials for that location only.
	location := "s3://" + e.minio.Bucket + "/datasets/coco"
	ds, err := dataset.CreatePath(ctx, location, cocoSchema, dataset.PathOptions{
		Client: e.alice, Org: "acme", CredsKey: "minio", Mode: api.ModeWrite,
	})
	if err != nil {
		log.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	if err := w.Append(ctx,
		dataset.Row{"name": "cat", "label": int64(0)},
		dataset.Row{"name": "dog", "label": int64(1)},
	); err != nil {
		log.Fatal(err)
	}
	v, err := w.Commit(ctx, "two animals")
	if err != nil {
		log.Fatal(err)
	}
	w.Close()
	ds.Close()
	fmt.Println("committed version", v.Version, "with", v.Rows, "rows")

	// Register the location as al://acme/coco with the same creds key.
	reg, err := e.alice.CreateDataset(ctx, "acme", api.CreateDatasetRequest{
		Name: "coco", Location: location, CredsKey: "minio",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", reg.Path)

	// Now it opens by name.
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice})
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	row, err := ds.Row(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds.Schema(), "|", ds.Len(), "rows | read-only:", ds.ReadOnly(), "|", row["name"])
	// Output:
	// committed version 2 with 2 rows
	// registered al://acme/coco
	// name text, label int64 | 2 rows | read-only: false | dog
}

// Open al://acme/coco with a token. A reader may open it read-only; asking for write access
// fails with the control plane's reason, and a plain open falls back to read-only with a
// notice.
func ExampleOpenPath() {
	tb := &exampleTB{}
	defer tb.done()
	e := newTarn(tb) // alice is a writer of acme, bob a reader
	e.seedCoco()     // al://acme/coco on MinIO, 3 rows
	ctx := context.Background()

	// A writer's plain open is writable.
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice:", ds.Len(), "rows, read-only:", ds.ReadOnly())
	ds.Close()

	// Read-only: only read credentials are asked for.
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bob, read:", ds.Len(), "rows, read-only:", ds.ReadOnly())
	ds.Close()

	// Write access with a reader's token fails.
	_, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeWrite})
	var p *api.Problem
	if errors.As(err, &p) {
		fmt.Println("bob, write:", p.Status, p.Code)
	}

	// A plain open falls back to read-only and says so; appending then fails before
	// anything is written.
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{
		Client: e.bob,
		Notice: func(msg string) { fmt.Println("notice: opened read-only:", len(msg) > 0) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	fmt.Println("bob, plain:", ds.Len(), "rows, read-only:", ds.ReadOnly())
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	err = w.Append(ctx, dataset.Row{"name": "emu", "label": int64(3)})
	fmt.Println("append:", errors.Is(err, dataset.ErrReadOnly))
	// Output:
	// alice: 3 rows, read-only: false
	// bob, read: 3 rows, read-only: true
	// bob, write: 403 permission_denied
	// notice: opened read-only: true
	// bob, plain: 3 rows, read-only: true
	// append: true
}

// Add a link column whose URLs point into another bucket, read through a creds key linked to
// the dataset: a reader of the dataset gets the linked bytes, and a key that is not linked
// is refused.
func ExampleDataset_ReadLink() {
	tb := &exampleTB{}
	defer tb.done()
	e := newTarn(tb)
	e.seedCoco() // al://acme/coco, 3 rows
	ctx := context.Background()

	// The images live in another bucket, which the creds key photos covers; an admin links
	// the key to the dataset. The key other covers the same bucket but is not linked.
	photos := newPhotoBucket(tb, e)
	if _, err := e.admin.AddLinkedCredsKey(ctx, "acme", "coco", "photos"); err != nil {
		log.Fatal(err)
	}

	// alice adds the column, naming the key its links are read through, and appends rows.
	ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice, Mode: api.ModeWrite})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ds.AddColumn(ctx, dataset.Column{
		Name: "photo", Type: dataset.LinkTo(dataset.Image), Nullable: true, LinkKey: "photos",
	}); err != nil {
		log.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	if err := w.Append(ctx,
		dataset.Row{"name": "eel", "label": int64(3), "photo": photos + "/eel.jpg"},
		dataset.Row{"name": "fox", "label": int64(4), "photo": photos + "/fox.jpg"},
	); err != nil {
		log.Fatal(err)
	}
	if _, err := w.Commit(ctx, "two photos"); err != nil {
		log.Fatal(err)
	}
	w.Close()
	ds.Close()

	// bob, a reader, reads the linked bytes.
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		log.Fatal(err)
	}
	rows, err := ds.Rows(ctx, 0, ds.Len())
	if err != nil {
		log.Fatal(err)
	}
	for _, row := range rows {
		if row["photo"] == nil {
			continue
		}
		data, err := ds.ReadLink(ctx, row, "photo")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s\n", row["name"], data)
	}
	ds.Close()

	// Reading the links through a key that is not linked to the dataset is refused.
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.alice, Mode: api.ModeWrite})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ds.SetLinkKey(ctx, "photo", "other"); err != nil {
		log.Fatal(err)
	}
	ds.Close()
	ds, err = dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: e.bob, Mode: api.ModeRead})
	if err != nil {
		log.Fatal(err)
	}
	defer ds.Close()
	row, err := ds.Row(ctx, 3)
	if err != nil {
		log.Fatal(err)
	}
	_, err = ds.ReadLink(ctx, row, "photo")
	var p *api.Problem
	if errors.As(err, &p) {
		fmt.Println("key other:", p.Status, p.Code)
	}
	// Output:
	// eel: bytes of eel.jpg
	// fox: bytes of fox.jpg
	// key other: 403 permission_denied
}
