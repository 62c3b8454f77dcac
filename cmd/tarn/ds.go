package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/render"
	"github.com/tarnhq/tarn/storage"
)

func (a *app) dsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "ds",
		Aliases: []string{"dataset"},
		Short:   "Manage datasets (al://ORG/NAME)",
	})
	cmd.AddCommand(append([]*cobra.Command{a.dsCreateCmd(), a.dsConnectCmd(), a.dsLsCmd(), a.dsInfoCmd(), a.dsUpdateCmd(), a.dsRmCmd(), a.dsAddCredsKeyCmd()}, a.dsDataCmds()...)...)
	return cmd
}

func (a *app) dsCreateCmd() *cobra.Command {
	var (
		public bool
		key    string
	)
	cmd := &cobra.Command{
		Use:   "create al://ORG/NAME [--public] [--creds-key KEY]",
		Short: "Create a dataset in the org's default storage",
		Long: `Create the dataset al://ORG/NAME at <default storage>/NAME. The org's default storage
(tarn storage set-default) picks the location and, unless --creds-key names another, the
creds key. Needs the writer role in the org.`,
		Example: `  tarn ds create al://acme/coco
  tarn ds create al://acme/mnist --public`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := parseDataset(args[0])
			if err != nil {
				return err
			}
			if key != "" {
				if err := checkName("creds key", key); err != nil {
					return err
				}
			}
			req := api.CreateDatasetRequest{Name: ds.Dataset, CredsKey: key, Public: public}
			d, err := fetch(a, fmt.Sprintf("create dataset %s", ds), func(c *client.Client) (*api.Dataset, error) {
				return c.CreateDataset(cmd.Context(), ds.Org, req)
			})
			if err != nil {
				return err
			}
			return a.showf(d, "Created %s at %s (creds key %s, %s).\n", datasetPath(d), d.Location, d.CredsKey, visibility(d.Public))
		},
	}
	cmd.Flags().BoolVar(&public, "public", false, "let anyone signed in read the dataset (needs the admin role)")
	cmd.Flags().StringVar(&key, "creds-key", "", "creds key to vend through (default: the default storage's)")
	return cmd
}

func (a *app) dsConnectCmd() *cobra.Command {
	var (
		public bool
		key    string
	)
	cmd := &cobra.Command{
		Use:   "connect LOCATION al://ORG/NAME --creds-key KEY [--public]",
		Short: "Register an existing location as a dataset",
		Long: `Register the existing storage location LOCATION as the dataset al://ORG/NAME. The data
stays where it is; tarn vends for it through the creds key KEY. LOCATION is a storage URL
or a local directory. Needs the writer role in the org.`,
		Example: `  tarn ds connect s3://acme-ml/imagenet al://acme/imagenet --creds-key ml-bucket
  tarn ds connect /srv/datasets/coco al://acme/coco --creds-key local --public`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseStorage(args[0])
			if err != nil {
				return err
			}
			ds, err := parseDataset(args[1])
			if err != nil {
				return err
			}
			if err := checkName("creds key", key); err != nil {
				return err
			}
			req := api.CreateDatasetRequest{Name: ds.Dataset, Location: loc.String(), CredsKey: key, Public: public}
			d, err := fetch(a, fmt.Sprintf("connect dataset %s", ds), func(c *client.Client) (*api.Dataset, error) {
				return c.CreateDataset(cmd.Context(), ds.Org, req)
			})
			if err != nil {
				return err
			}
			return a.showf(d, "Connected %s to %s (creds key %s, %s).\n", datasetPath(d), d.Location, d.CredsKey, visibility(d.Public))
		},
	}
	cmd.Flags().BoolVar(&public, "public", false, "let anyone signed in read the dataset (needs the admin role)")
	cmd.Flags().StringVar(&key, "creds-key", "", "creds key that vends for LOCATION (required)")
	cmd.MarkFlagRequired("creds-key")
	return cmd
}

// datasetPath returns the al:// path of d.
func datasetPath(d *api.Dataset) string {
	if d.Path != "" {
		return d.Path
	}
	return "al://" + d.Org + "/" + d.Name
}

func (a *app) dsLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ORG",
		Aliases: []string{"list"},
		Short:   "List an org's datasets",
		Example: "  tarn ds ls acme\n  tarn ds ls acme --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			dss, err := fetch(a, fmt.Sprintf("list datasets of org %s", org), func(c *client.Client) ([]api.Dataset, error) {
				return c.Datasets(cmd.Context(), org)
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(dss), func() error {
				t := a.table("PATH", "LOCATION", "CREDS_KEY", "VISIBILITY", "CREATED")
				for i := range dss {
					d := &dss[i]
					t.row(datasetPath(d), d.Location, d.CredsKey, visibility(d.Public), fmtTime(d.CreatedAt))
				}
				return t.flush()
			})
		},
	}
}

// datasetInfo is the answer of `tarn ds info --output json`: the registry entry and, when
// the caller could read the dataset, what its latest version holds.
type datasetInfo struct {
	*api.Dataset
	*dataInfo
}

// dataInfo describes a dataset's latest version: version 0 and no rows for a dataset that
// holds no data yet.
type dataInfo struct {
	Version   int64      `json:"version"`
	Rows      int64      `json:"rows"`
	Bytes     int64      `json:"bytes"` // of the version's data files
	Columns   int        `json:"columns"`
	UpdatedAt *time.Time `json:"updated_at"` // the version's commit time; null for version 0
}

func (a *app) dsInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "info al://ORG/NAME",
		Aliases: []string{"show"},
		Short:   "Show a dataset's registry entry and what its latest version holds",
		Long: `Show the registry entry of al://ORG/NAME (location, creds key, visibility, linked creds
keys) and, read from the dataset itself with your read credentials, its current version,
row count, the size of its data files, its column count and the time of its last commit. A
dataset that holds no data yet shows version 0; one you cannot read shows the registry
entry and a note on stderr.`,
		Example: "  tarn ds info al://acme/coco\n  tarn ds info al://acme/coco --output json | jq .rows",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := parseDataset(args[0])
			if err != nil {
				return err
			}
			var d *api.Dataset
			c, err := a.client()
			if err == nil {
				d, err = c.Dataset(cmd.Context(), ds.Org, ds.Dataset)
			}
			if err != nil {
				return fmt.Errorf("show dataset %s: %w", ds, err)
			}
			d.LinkedCredsKeys = nonNil(d.LinkedCredsKeys)
			info := datasetInfo{Dataset: d}
			if info.dataInfo, err = readInfo(cmd.Context(), c, ds.String()); err != nil {
				fmt.Fprintf(a.stderr, "note: cannot read %s, showing its registry entry only: %v\n", ds, err)
			}
			return a.show(info, func() error {
				pairs := []string{
					"path", datasetPath(d),
					"location", d.Location,
					"creds key", d.CredsKey,
					"visibility", visibility(d.Public),
					"linked creds keys", strings.Join(d.LinkedCredsKeys, ", "),
					"created", fmtTime(d.CreatedAt),
					"created by", d.CreatedBy,
				}
				if x := info.dataInfo; x != nil {
					pairs = append(pairs,
						"version", strconv.FormatInt(x.Version, 10),
						"rows", strconv.FormatInt(x.Rows, 10),
						"size", fmt.Sprintf("%s (%d bytes)", render.Size(x.Bytes), x.Bytes),
						"columns", strconv.Itoa(x.Columns),
						"updated", fmtTimePtr(x.UpdatedAt),
					)
				}
				return kv(a.stdout, pairs...)
			})
		},
	}
}

// readInfo opens the dataset at path read-only and describes its latest version. A path
// that holds no dataset yet is version 0.
func readInfo(ctx context.Context, c *client.Client, path string) (*dataInfo, error) {
	ds, err := dataset.OpenPath(ctx, path, dataset.PathOptions{Client: c, Mode: api.ModeRead})
	if errors.Is(err, dataset.ErrNoDataset) {
		return &dataInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	v := ds.Info()
	out := &dataInfo{Version: v.Version, Rows: v.Rows, Columns: len(v.Schema.Columns)}
	for _, f := range v.Files {
		out.Bytes += f.Bytes
	}
	if v.Version > 0 {
		out.UpdatedAt = &v.Time
	}
	return out, nil
}

func (a *app) dsRmCmd() *cobra.Command {
	var deleteData bool
	cmd := &cobra.Command{
		Use:     "rm al://ORG/NAME [--delete-data]",
		Aliases: []string{"remove"},
		Short:   "Delete a dataset's registry entry, and with --delete-data its objects",
		Long: `Delete the registry entry al://ORG/NAME. The data stays where it is unless --delete-data is
given: then every object of the dataset is deleted first, with write credentials vended for
it, and the entry only once all are gone.`,
		Example: `  tarn ds rm al://acme/old
  tarn ds rm al://acme/scratch --delete-data`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := parseDataset(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("delete dataset %s: %w", ds, err)
			}
			deleted := -1
			if deleteData {
				n, err := storage.DeleteAll(cmd.Context(), ds.String(), storage.Options{Client: c})
				if err != nil {
					return fmt.Errorf("delete data of dataset %s: %w (deleted %d objects; the entry is kept)", ds, err, n)
				}
				deleted = n
			}
			if err := c.DeleteDataset(cmd.Context(), ds.Org, ds.Dataset); err != nil {
				return fmt.Errorf("delete dataset %s: %w", ds, err)
			}
			if deleted >= 0 {
				a.say("Deleted %s and its %d objects.\n", ds, deleted)
			} else {
				a.say("Deleted %s; its data was left in place.\n", ds)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleteData, "delete-data", false, "also delete every object of the dataset")
	return cmd
}

func (a *app) dsAddCredsKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add-creds-key al://ORG/NAME KEY",
		Short: "Let a dataset's link columns fetch through another creds key",
		Long: `Link the creds key KEY of the dataset's org to the dataset, so that its link columns (URLs
of bytes stored elsewhere) can be read with credentials vended through KEY.`,
		Example: "  tarn ds add-creds-key al://acme/coco web-images",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := parseDataset(args[0])
			if err != nil {
				return err
			}
			key := args[1]
			if err := checkName("creds key", key); err != nil {
				return err
			}
			d, err := fetch(a, fmt.Sprintf("link creds key %s to %s", key, ds), func(c *client.Client) (*api.Dataset, error) {
				return c.AddLinkedCredsKey(cmd.Context(), ds.Org, ds.Dataset, key)
			})
			if err != nil {
				return err
			}
			d.LinkedCredsKeys = nonNil(d.LinkedCredsKeys)
			return a.showf(d, "Linked creds key %s to %s.\n", key, datasetPath(d))
		},
	}
}
