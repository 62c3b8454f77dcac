package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// overlapRule ends the detail of every location_overlap error.
const overlapRule = "; a dataset's location may not equal, contain or lie inside another dataset's"

// testDatasetOverlap checks that no dataset's location equals, contains or lies inside
// another's, in any org, by whole path segments, and that a refusal names a dataset of
// another org neither by name nor by location.
func testDatasetOverlap(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	for _, d := range []store.Dataset{
		{Org: "acme", Name: "a", Location: "s3://b/a"},
		{Org: "acme", Name: "coco", Location: "s3://b/coco"},
		{Org: "acme", Name: "under", Location: "s3://b/x_y"},
		{Org: "acme", Name: "pct", Location: "s3://b/p%"},
		{Org: "acme", Name: "srv", Location: "file:///srv/data"},
		{Org: "acme", Name: "blob", Location: "az://acct/cont/p"},
		{Org: "beta", Name: "secret", Location: "s3://whole"},
		{Org: "beta", Name: "deep", Location: "gs://g/team/deep"},
	} {
		must(t, s.CreateDataset(ctx, d))
	}
	// Another org's dataset is not named, nor which way it overlaps.
	const other = "overlaps the location of a dataset of another org"
	for _, tc := range []struct {
		name, org, location string
		detail              string // "" if the create succeeds
	}{
		{"equal", "acme", "s3://b/a", "location s3://b/a is already the location of al://acme/a"},
		{"child", "acme", "s3://b/a/x", "location s3://b/a/x lies inside al://acme/a (s3://b/a)"},
		{"grandchild", "acme", "s3://b/a/x/y", "location s3://b/a/x/y lies inside al://acme/a (s3://b/a)"},
		{"parent bucket", "acme", "s3://b", "location s3://b contains al://acme/a (s3://b/a)"},
		{"file parent", "acme", "file:///srv", "location file:///srv contains al://acme/srv (file:///srv/data)"},
		{"file root", "acme", "file:///", "location file:/// contains al://acme/srv (file:///srv/data)"},
		{"container", "acme", "az://acct/cont", "location az://acct/cont contains al://acme/blob (az://acct/cont/p)"},
		{"other org, equal", "acme", "s3://whole", "location s3://whole " + other},
		{"other org, inside a bucket root", "acme", "s3://whole/x", "location s3://whole/x " + other},
		{"other org, parent", "acme", "gs://g/team", "location gs://g/team " + other},
		{"other org, bucket root", "acme", "gs://g", "location gs://g " + other},
		{"sibling sharing a prefix", "acme", "s3://b/coco-private", ""},
		{"sibling that is a prefix", "acme", "s3://b/co", ""},
		{"bucket sharing a prefix", "acme", "s3://wholesale/x", ""},
		{"file sibling", "acme", "file:///srv/data2", ""},
		{"other container", "acme", "az://acct/cont2/p", ""},
		{"other scheme", "acme", "gs://b/a", ""},
		{"_ is no wildcard", "beta", "s3://b/xzy/1", ""},
		{"% is no wildcard", "beta", "s3://b/pq/1", ""},
		{"next to another org's", "acme", "gs://g/team/deeper", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "n" + strings.NewReplacer(" ", "-", ",", "", "_", "u", "%", "p").Replace(tc.name)
			err := s.CreateDataset(ctx, store.Dataset{Org: tc.org, Name: name, Location: tc.location, CredsKey: "k1"})
			if tc.detail == "" {
				must(t, err)
				return
			}
			wantOverlap(t, err, tc.detail+overlapRule)
			if strings.Contains(tc.detail, other) && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "deep")) {
				t.Errorf("error %q reveals a dataset of another org", err)
			}
			if _, err := s.Dataset(ctx, tc.org, name); !errs.Is(errs.NotFound, err) {
				t.Errorf("a refused create left dataset %s: %v", name, err)
			}
		})
	}

	// The name is checked first: re-creating a dataset says that it exists.
	wantErr(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "a", Location: "s3://b/a"}), errs.Conflict, `dataset "a" already exists in org "acme"`)
	// A deleted dataset's location is free again, also for another org.
	must(t, s.DeleteDataset(ctx, "acme", "a"))
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "beta", Name: "a", Location: "s3://b/a/x"}))
}

func wantOverlap(t *testing.T, err error, detail string) {
	t.Helper()
	wantErr(t, err, errs.Conflict, detail)
	var e *errs.Error
	if errors.As(err, &e) && e.Code != api.CodeLocationOverlap {
		t.Errorf("code = %q, want %q", e.Code, api.CodeLocationOverlap)
	}
}

// testDatasetOverlapRace creates datasets at nested locations from many goroutines at once,
// in two orgs: each pair overlaps, so exactly one create may succeed.
func testDatasetOverlapRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	const racers, rounds = 8, 5
	for round := range rounds {
		var wg sync.WaitGroup
		errc := make([]error, racers)
		for i := range racers {
			loc := fmt.Sprintf("s3://race%d", round)
			for j := range i {
				loc += fmt.Sprintf("/%d", j)
			}
			org := []string{"acme", "beta"}[i%2]
			wg.Go(func() {
				errc[i] = s.CreateDataset(ctx, store.Dataset{Org: org, Name: fmt.Sprintf("r%d-%d", round, i), Location: loc, CredsKey: "k1"})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errc {
			var e *errs.Error
			switch {
			case err == nil:
				won++
			case errors.As(err, &e) && e.Code == api.CodeLocationOverlap:
			default:
				t.Errorf("round %d, racer %d: %v, want nil or a location_overlap error", round, i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d creates of overlapping locations succeeded, want exactly 1", round, won, racers)
		}
	}
}
