package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// datasetColumns selects a dataset row with its linked keys, comma-separated (creds key
// names hold no commas).
const datasetColumns = `datasets.org, datasets.name, datasets.location, coalesce(datasets.creds_key, ''),
	datasets.public, datasets.created_at, datasets.created_by,
	coalesce((SELECT string_agg(creds_key, ',' ORDER BY creds_key) FROM dataset_linked_keys l WHERE l.org = datasets.org AND l.dataset = datasets.name), '')`

func scanDataset(row scanner) (store.Dataset, error) { return scanDatasetAnd(row) }

// scanDatasetAnd scans the datasetColumns of row, and the columns after them into more.
func scanDatasetAnd(row scanner, more ...any) (store.Dataset, error) {
	var d store.Dataset
	var linked string
	err := row.Scan(append([]any{&d.Org, &d.Name, &d.Location, &d.CredsKey, &d.Public, ts(&d.CreatedAt), &d.CreatedBy, &linked}, more...)...)
	if linked != "" {
		d.LinkedKeys = strings.Split(linked, ",")
	}
	return d, err
}

// CreateDataset adds d with its linked keys (sorted and deduplicated). It returns Conflict if
// the name is taken in its org, Conflict with code location_overlap if d.Location equals,
// contains or lies inside the location of another dataset of any org, and NotFound if the
// org, the creds key or a linked key is absent. The overlap check and the insert are one
// transaction that holds the datasets lock, so of two concurrent creates of overlapping
// locations exactly one succeeds.
func (s *Store) CreateDataset(ctx context.Context, d store.Dataset) error {
	err := s.inTx(ctx, func(tx txn) error {
		if err := tx.lock(ctx, lockDatasets); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO datasets (org, name, location, creds_key, public, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			d.Org, d.Name, d.Location, null(d.CredsKey), d.Public, s.d.time(d.CreatedAt), d.CreatedBy); err != nil {
			return err
		}
		if err := overlapping(ctx, tx, d); err != nil {
			return err
		}
		for _, k := range sortedSet(d.LinkedKeys) {
			if _, err := tx.exec(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES (?, ?, ?)`,
				d.Org, d.Name, k); err != nil {
				return err
			}
		}
		return nil
	})
	switch s.d.violation(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "dataset %q already exists in org %q", d.Name, d.Org)
	case foreignKeyViolation:
		lookups := []lookup{orgRow(d.Org), keyRow(d.Org, d.CredsKey)}
		for _, k := range d.LinkedKeys {
			lookups = append(lookups, keyRow(d.Org, k))
		}
		return s.notFound(ctx, "create dataset", err, lookups...)
	}
	return s.fail("create dataset", err)
}

// overlapping returns a Conflict (code location_overlap) if a dataset other than d, of any
// org, has a location that equals, contains or lies inside d.Location. It names the other
// dataset, and says which way they overlap, only if it belongs to d's org: the names and
// locations of other orgs are theirs.
// The comparison is by whole path segments and uses no LIKE patterns, so _ and % in
// locations are plain characters.
func overlapping(ctx context.Context, tx txn, d store.Dataset) error {
	up, below := overlapKeys(d.Location)
	args := []any{d.Org, d.Name, d.Location}
	for _, a := range up {
		args = append(args, a)
	}
	args = append(args, below, below, d.Org)
	var org, name, loc string
	err := tx.queryRow(ctx, `SELECT org, name, location FROM datasets
		WHERE NOT (org = ? AND name = ?)
			AND (location IN (?`+strings.Repeat(", ?", len(up))+`)
				OR substr(location, 1, length(CAST(? AS TEXT))) = CAST(? AS TEXT))
		ORDER BY CASE WHEN org = ? THEN 0 ELSE 1 END, org, name
		LIMIT 1`, args...).Scan(&org, &name, &loc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var how string
	other := fmt.Sprintf("al://%s/%s (%s)", org, name, loc)
	switch {
	case org != d.Org:
		// Not even which way: that would map another org's locations segment by segment.
		how = "overlaps the location of a dataset of another org"
	case loc == d.Location:
		how = fmt.Sprintf("is already the location of al://%s/%s", org, name)
	case slices.Contains(up, loc):
		how = "lies inside " + other
	default:
		how = "contains " + other
	}
	return errs.E(errs.Conflict, "location %s %s; a dataset's location may not equal, contain or lie inside another dataset's",
		d.Location, how).WithCode(api.CodeLocationOverlap)
}

// overlapKeys returns what a location overlapping loc (a canonical location such as
// s3://bucket/a/b or file:///a/b) is: loc itself, one of up, the locations that contain loc
// (s3://bucket, s3://bucket/a; file:///, file:///a), or a location starting with below,
// the prefix of the locations inside loc (s3://bucket/a/b/; file:///a/b/).
func overlapKeys(loc string) (up []string, below string) {
	below = loc
	if !strings.HasSuffix(below, "/") { // only a root such as file:/// ends in a slash
		below += "/"
	}
	i := strings.Index(loc, "://")
	if i < 0 {
		return nil, below
	}
	for j := i + len("://"); j < len(loc); j++ {
		if loc[j] != '/' {
			continue
		}
		a := loc[:j]
		if j == i+len("://") { // an empty authority: the root keeps its slash, file:///
			a = loc[:j+1]
		}
		if a != loc {
			up = append(up, a)
		}
	}
	return up, below
}

// Dataset returns the named dataset; NotFound if absent.
func (s *Store) Dataset(ctx context.Context, org, name string) (store.Dataset, error) {
	d, err := scanDataset(s.queryRow(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = ? AND name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Dataset{}, errs.E(errs.NotFound, "dataset %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Dataset{}, s.fail("get dataset", err)
	}
	return d, nil
}

// DatasetWithKey returns the named dataset and, read in the same query, its creds key (the
// zero CredsKey when the dataset names none); NotFound if the dataset is absent.
func (s *Store) DatasetWithKey(ctx context.Context, org, name string) (store.Dataset, store.CredsKey, error) {
	var k store.CredsKey
	d, err := scanDatasetAnd(s.queryRow(ctx, `SELECT `+datasetColumns+`,
			coalesce(k.name, ''), coalesce(k.provider, ''), k.config, k.secret, coalesce(k.version, 0), k.created_at, k.updated_at
		FROM datasets LEFT JOIN creds_keys k ON k.org = datasets.org AND k.name = datasets.creds_key
		WHERE datasets.org = ? AND datasets.name = ?`, org, name),
		&k.Name, &k.Provider, &k.Config, &k.Secret, &k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Dataset{}, store.CredsKey{}, errs.E(errs.NotFound, "dataset %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Dataset{}, store.CredsKey{}, s.fail("get dataset", err)
	}
	if k.Name != "" {
		k.Org = d.Org
	}
	return d, k, nil
}

// Datasets lists an org's datasets ordered by name; none if the org is absent.
func (s *Store) Datasets(ctx context.Context, org string) ([]store.Dataset, error) {
	rows, err := s.query(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = ? ORDER BY name`, org)
	if err != nil {
		return nil, s.fail("list datasets", err)
	}
	ds, err := collect(rows, scanDataset)
	return ds, s.fail("list datasets", err)
}

// SetDatasetPublic sets whether a dataset is public; NotFound if absent.
func (s *Store) SetDatasetPublic(ctx context.Context, org, name string, public bool) error {
	res, err := s.exec(ctx, `UPDATE datasets SET public = ? WHERE org = ? AND name = ?`, public, org, name)
	return s.mustChange(res, err, "set dataset visibility", "dataset %q not found in org %q", name, org)
}

// DeleteDataset removes a dataset entry and its linked keys; NotFound if absent.
func (s *Store) DeleteDataset(ctx context.Context, org, name string) error {
	res, err := s.exec(ctx, `DELETE FROM datasets WHERE org = ? AND name = ?`, org, name)
	return s.mustChange(res, err, "delete dataset", "dataset %q not found in org %q", name, org)
}

// AddLinkedKey adds key to a dataset's linked keys (idempotent); NotFound if the dataset or
// the creds key is absent.
func (s *Store) AddLinkedKey(ctx context.Context, org, name, key string) error {
	_, err := s.exec(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, org, name, key)
	if s.d.violation(err) == foreignKeyViolation {
		return s.notFound(ctx, "add linked key", err, datasetRow(org, name), keyRow(org, key))
	}
	return s.fail("add linked key", err)
}
