package sqlstore

import (
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/location"
)

// overlaps is the rule CreateDataset's query applies, in Go.
func overlaps(a, b string) bool {
	up, below := overlapKeys(a)
	return a == b || slices.Contains(up, b) || strings.HasPrefix(b, below)
}

func TestOverlapKeys(t *testing.T) {
	for _, tc := range []struct {
		loc   string
		up    []string
		below string
	}{
		{"s3://b", nil, "s3://b/"},
		{"s3://b/a/x", []string{"s3://b", "s3://b/a"}, "s3://b/a/x/"},
		{"file:///", nil, "file:///"},
		{"file:///srv/data", []string{"file:///", "file:///srv"}, "file:///srv/data/"},
		{"az://acct/cont/p", []string{"az://acct", "az://acct/cont"}, "az://acct/cont/p/"},
		{"mem://scratch", nil, "mem://scratch/"},
	} {
		up, below := overlapKeys(tc.loc)
		if !slices.Equal(up, tc.up) || below != tc.below {
			t.Errorf("overlapKeys(%q) = %q, %q; want %q, %q", tc.loc, up, below, tc.up, tc.below)
		}
	}
}

// FuzzOverlap checks the rule against location.Within, which the vending code trusts: two
// storage locations overlap exactly when one lies within the other.
func FuzzOverlap(f *testing.F) {
	for _, seed := range [][2]string{
		{"s3://b/a", "s3://b/a/x"},
		{"s3://b/coco", "s3://b/coco-private"},
		{"s3://b", "s3://b/x"},
		{"s3://b", "s3://bb"},
		{"file:///", "file:///srv"},
		{"file:///srv/a", "file:///srv/a"},
		{"az://acct/cont", "az://acct/cont/p"},
		{"az://acct/cont", "az://acct/cont2"},
		{"gs://b/x_y", "gs://b/xzy/1"},
		{"mem://a", "mem://a/b"},
		{"s3://b/a", "gs://b/a"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		la, err := location.ParseStorage(a)
		if err != nil {
			return
		}
		lb, err := location.ParseStorage(b)
		if err != nil {
			return
		}
		want := la.Within(lb) || lb.Within(la)
		if got := overlaps(la.String(), lb.String()); got != want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", la, lb, got, want)
		}
		if got := overlaps(lb.String(), la.String()); got != want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", lb, la, got, want)
		}
	})
}
