// Package ingest fills datasets from files: a folder of images, labelled by a CSV file or by
// class folders (Dir), and the images stored below a location, as links (Links). `tarn ds
// import` is this package behind flags; Go programs and other front ends call it the same
// way.
//
// Both create the dataset when its path holds none (dataset.CreatePath, so a half-created
// dataset is completed), append to it otherwise, and make all their rows one version.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/location"
	"github.com/tarnhq/tarn/storage"
)

// batchRows is the number of rows handed to the appender at once.
const batchRows = 64

// ImageSchema returns the schema of the datasets Dir imports into: image (the encoded bytes
// and their format), filename (the path below the folder, with slashes) and label (text,
// nullable). A dataset with more columns fits if those are nullable.
func ImageSchema() dataset.Schema {
	return dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
	)
}

// LinkSchema returns the schema of the datasets Links imports into: url, a link to an image
// read through the creds key key, and filename, the object's key below the linked location.
func LinkSchema(key string) dataset.Schema {
	return dataset.NewSchema(
		dataset.Column{Name: "url", Type: dataset.LinkTo(dataset.Image), LinkKey: key},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
	)
}

// Result describes a finished import.
type Result struct {
	// Rows is the number of rows the import added.
	Rows int64
	// Version is the version the import made; its Rows is the dataset's total.
	Version dataset.Version
	// Created reports whether the import created the dataset.
	Created bool
}

// Progress reports an image that Dir has read.
type Progress struct {
	Done, Total int    // images read so far, this one included, and in all
	Name        string // the image's name below the folder
	Bytes       int64  // its size
}

// DirOptions configures Dir.
type DirOptions struct {
	// Path opens the dataset, as for dataset.OpenPath. Mode must be "" or api.ModeWrite:
	// importing writes.
	Path dataset.PathOptions
	// Labels is a CSV file of filename,label lines (see FindImages); empty means that class
	// folders label the images.
	Labels string
	// Message is the commit message; empty means "import DIR".
	Message string
	// Progress, when set, is called after each image is read, on the goroutine that called
	// Dir.
	Progress func(Progress)
	// Prepare, when set, is called once the images are found and the labels read, before
	// the dataset is opened; its error ends the import. The tarn CLI registers an al://
	// dataset that does not exist yet here, so that a folder without images registers
	// nothing.
	Prepare func(ctx context.Context) error
}

// Dir imports the images below the local directory dir (see FindImages) into the dataset
// at path, which it creates with ImageSchema when the path holds none, as one version.
// Nothing is written before the folder and the labels are read. It fails, saying what to
// fix, when dir holds no images, the labels file is malformed, an image cannot be read, or
// the dataset's schema lacks a column of ImageSchema.
func Dir(ctx context.Context, dir, path string, o DirOptions) (Result, error) {
	images, err := FindImages(dir, o.Labels)
	if err != nil {
		return Result{}, err
	}
	if o.Prepare != nil {
		if err := o.Prepare(ctx); err != nil {
			return Result{}, err
		}
	}
	ds, created, err := open(ctx, path, o.Path, ImageSchema())
	if err != nil {
		return Result{}, err
	}
	defer ds.Close()
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	batch := make([]dataset.Row, 0, batchRows)
	for i, im := range images {
		data, err := os.ReadFile(im.Path)
		if err != nil {
			return Result{}, fmt.Errorf("read %s: %w", im.Path, unwrapPath(err))
		}
		format := im.Format
		if format == "" {
			format = Sniff(data)
		}
		row := dataset.Row{"image": dataset.ImageValue{Format: format, Data: data}, "filename": im.Name}
		if im.Label != nil {
			row["label"] = *im.Label
		}
		if batch = append(batch, row); len(batch) == batchRows {
			if err := w.Append(ctx, batch...); err != nil {
				return Result{}, err
			}
			batch = batch[:0]
		}
		if o.Progress != nil {
			o.Progress(Progress{Done: i + 1, Total: len(images), Name: im.Name, Bytes: int64(len(data))})
		}
	}
	if err := w.Append(ctx, batch...); err != nil {
		return Result{}, err
	}
	msg := o.Message
	if msg == "" {
		msg = "import " + dir
	}
	v, err := w.Commit(ctx, msg)
	if err != nil {
		return Result{}, err
	}
	return Result{Rows: int64(len(images)), Version: v, Created: created}, nil
}

// LinkOptions configures Links.
type LinkOptions struct {
	// Path opens the dataset, as for dataset.OpenPath; Mode must be "" or api.ModeWrite.
	// Its Client also lists the linked location, and its Org, for a dataset on a storage
	// path, names the org whose creds key CredsKey lists it.
	Path dataset.PathOptions
	// CredsKey is the creds key the links are read through (the url column's link key).
	// For an al:// dataset it must be linked to the dataset (client.AddLinkedCredsKey):
	// the location is listed through it as the dataset's readers will read it, so a key
	// that is not linked fails here.
	CredsKey string
	// Message is the commit message; empty means "import links to SRC".
	Message string
}

// Links adds to the dataset at path a row per image object below src (by extension, see
// FindImages), linking to it, without copying anything; it creates the dataset with
// LinkSchema when the path holds none, and sets the url column's link key to o.CredsKey.
// src is a storage URL or a local directory: listed through o.CredsKey linked to an al://
// dataset, through the org's creds key (o.Path.Org) for a dataset on a storage path, or
// directly for a local directory or mem:// path. It fails when src holds no images.
func Links(ctx context.Context, src, path string, o LinkOptions) (Result, error) {
	if err := location.CheckName("creds key", o.CredsKey); err != nil {
		return Result{}, err
	}
	from, err := location.FromLocal(src)
	if err != nil {
		return Result{}, err
	}
	if from.Scheme == location.AL {
		return Result{}, fmt.Errorf("%s: link to a storage URL or a local directory, not a dataset path", from)
	}
	to, err := location.FromLocal(path)
	if err != nil {
		return Result{}, err
	}
	list := storage.Options{Client: o.Path.Client, Mode: api.ModeRead}
	switch {
	case from.Scheme == location.Mem:
	case to.Scheme == location.AL:
		list.LinkedTo, list.CredsKey = to.Root().String(), o.CredsKey
	case o.Path.Org != "":
		list.Org, list.CredsKey = o.Path.Org, o.CredsKey
	case from.Scheme == location.File:
	default:
		return Result{}, fmt.Errorf("%s: a storage URL is listed through a creds key: import into an al:// dataset, or open the dataset through an org's creds key (PathOptions.Org)", from)
	}
	b, err := storage.OpenBucket(ctx, from.String(), list)
	if err != nil {
		return Result{}, err
	}
	defer b.Close()
	keys, err := listImages(ctx, b)
	if err != nil {
		return Result{}, fmt.Errorf("list %s: %w", from, err)
	}
	if len(keys) == 0 {
		return Result{}, fmt.Errorf("%s holds no images (%s)", from, extList())
	}

	ds, created, err := open(ctx, path, o.Path, LinkSchema(o.CredsKey))
	if err != nil {
		return Result{}, err
	}
	defer ds.Close()
	if c, _ := ds.Schema().Column("url"); c.LinkKey != o.CredsKey {
		if _, err := ds.SetLinkKey(ctx, "url", o.CredsKey); err != nil {
			return Result{}, err
		}
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	base := strings.TrimSuffix(from.String(), "/")
	for start := 0; start < len(keys); start += batchRows {
		rows := make([]dataset.Row, 0, batchRows)
		for _, k := range keys[start:min(start+batchRows, len(keys))] {
			rows = append(rows, dataset.Row{"url": base + "/" + k, "filename": k})
		}
		if err := w.Append(ctx, rows...); err != nil {
			return Result{}, err
		}
	}
	msg := o.Message
	if msg == "" {
		msg = "import links to " + from.String()
	}
	v, err := w.Commit(ctx, msg)
	if err != nil {
		return Result{}, err
	}
	return Result{Rows: int64(len(keys)), Version: v, Created: created}, nil
}

// open opens the dataset at path for writing, creating it with schema when the path holds
// none, and checks that its schema takes rows of schema.
func open(ctx context.Context, path string, po dataset.PathOptions, schema dataset.Schema) (*dataset.Dataset, bool, error) {
	switch po.Mode {
	case "":
		po.Mode = api.ModeWrite
	case api.ModeWrite:
	default:
		return nil, false, fmt.Errorf("importing needs write access, not mode %q", po.Mode)
	}
	created := true
	ds, err := dataset.CreatePath(ctx, path, schema, po)
	if errors.Is(err, dataset.ErrExists) {
		created = false
		ds, err = dataset.OpenPath(ctx, path, po)
	}
	if err != nil {
		return nil, false, err
	}
	if err := fits(ds.Schema(), schema); err != nil {
		ds.Close()
		return nil, false, err
	}
	return ds, created, nil
}

// fits checks that a dataset's schema has the columns an import writes, and no other
// column that needs a value.
func fits(have, want dataset.Schema) error {
	for _, c := range want.Columns {
		h, ok := have.Column(c.Name)
		if !ok {
			return fmt.Errorf("the dataset has no column %q (its columns: %s)", c.Name, have)
		}
		if !h.Type.Equal(c.Type) {
			return fmt.Errorf("column %q of the dataset is %s, not %s", c.Name, h.Type, c.Type)
		}
	}
	for _, h := range have.Columns {
		if _, ok := want.Column(h.Name); !ok && !h.Nullable {
			return fmt.Errorf("the dataset's column %q is not nullable and the import has no values for it", h.Name)
		}
	}
	return nil
}

// listImages returns the keys of b that have an image extension, sorted.
func listImages(ctx context.Context, b *blob.Bucket) ([]string, error) {
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, ok := formatOf(path.Ext(obj.Key)); ok && !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
