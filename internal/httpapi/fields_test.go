package httpapi_test

import (
	"testing"

	"github.com/tarnhq/tarn/api"
)

// The console shows an error next to the input it is about: the problems of the dataset and
// member forms name their request field.
func TestDatasetAndMemberErrorsNameTheirField(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"bad dataset name", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "Bad"}, "name"},
		{"bad location", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: "ftp://h/x", CredsKey: "k"}, "location"},
		{"location outside the key", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: "file:///etc", CredsKey: "k"}, "location"},
		{"no default storage", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x"}, "location"},
		{"no creds key", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: f.root + "/x"}, "creds_key"},
		{"unknown creds key", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: f.root + "/x", CredsKey: "nope"}, "creds_key"},
		{"bad role", "PUT", "/orgs/acme/members/outsider", api.PutMemberRequest{Role: "owner"}, "role"},
		{"unknown user", "PUT", "/orgs/acme/members/nobody", api.PutMemberRequest{Role: "reader"}, "user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := f.do(t, "admin", tc.method, tc.path, tc.body)
			if st < 400 || out["field"] != tc.field {
				t.Errorf("%s %s: %d with field %v, want an error about %q: %v", tc.method, tc.path, st, out["field"], tc.field, out)
			}
		})
	}
}
