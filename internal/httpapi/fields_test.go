package httpapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tarnhq/tarn/api"
)

// TestErrorsNameTheirField checks that refused creds key, verify and default storage
// requests name the JSON field that was wrong (api.Problem.Field), which the console's forms
// show the error next to, and that a key says whether it holds a secret, never the secret.
func TestErrorsNameTheirField(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Admin(t)
	aws := func(cfg api.CredsKeyConfig) api.PutCredsKeyRequest {
		if cfg.Roots == nil {
			cfg.Roots = []string{"s3://bucket/datasets"}
		}
		return api.PutCredsKeyRequest{Provider: api.ProviderAWS, Config: cfg}
	}
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"bad key name", "name", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "Bad Name", aws(api.CredsKeyConfig{}))
			return err
		}},
		{"unknown provider", "provider", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", api.PutCredsKeyRequest{Provider: "ftp", Config: api.CredsKeyConfig{Roots: []string{f.root}}})
			return err
		}},
		{"no roots", "roots", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", aws(api.CredsKeyConfig{Roots: []string{}}))
			return err
		}},
		{"bad role ARN", "role_arn", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", aws(api.CredsKeyConfig{RoleARN: "not-an-arn"}))
			return err
		}},
		{"bad region", "region", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", aws(api.CredsKeyConfig{RoleARN: "arn:aws:iam::123456789012:role/tarn", Region: "mars"}))
			return err
		}},
		{"access key without its secret", "secret", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", aws(api.CredsKeyConfig{RoleARN: "arn:aws:iam::123456789012:role/tarn",
				Source: api.SourceAccessKey, AccessKeyID: "AKIAEXAMPLE"}))
			return err
		}},
		{"bad sts endpoint", "sts_endpoint", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", aws(api.CredsKeyConfig{RoleARN: "arn:aws:iam::123456789012:role/tarn",
				STSEndpoint: "ftp://x", S3Endpoint: "ftp://x"}))
			return err
		}},
		{"bad azure account", "account", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", api.PutCredsKeyRequest{Provider: api.ProviderAzure,
				Config: api.CredsKeyConfig{Account: "NO", Roots: []string{"az://acmeml/datasets"}}})
			return err
		}},
		{"bad gcs service account", "service_account", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", api.PutCredsKeyRequest{Provider: api.ProviderGCS,
				Config: api.CredsKeyConfig{ServiceAccount: "nobody", Roots: []string{"gs://bucket/x"}}})
			return err
		}},
		{"file root outside the server's", "roots", func() error {
			_, err := admin.PutCredsKey(ctx, "acme", "x", api.PutCredsKeyRequest{Provider: api.ProviderFile,
				Config: api.CredsKeyConfig{Roots: []string{"file:///nowhere/at/all"}}})
			return err
		}},
		{"verify a location that is none", "location", func() error {
			_, err := admin.VerifyCredsKey(ctx, "acme", "k", "s3://")
			return err
		}},
		{"default storage without location", "location", func() error {
			_, err := admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{CredsKey: "k"})
			return err
		}},
		{"default storage outside the key", "location", func() error {
			_, err := admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: "s3://elsewhere/x", CredsKey: "k"})
			return err
		}},
		{"default storage without key", "creds_key", func() error {
			_, err := admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: f.root})
			return err
		}},
		{"default storage on a missing key", "creds_key", func() error {
			_, err := admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: f.root, CredsKey: "nope"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			p, ok := errors.AsType[*api.Problem](err)
			if !ok {
				t.Fatalf("error %v, want an *api.Problem", err)
			}
			if p.Field != tc.field {
				t.Errorf("problem %q names field %q, want %q", p.Detail, p.Field, tc.field)
			}
		})
	}
	for key, want := range map[string]bool{"k": false, "s3": true} {
		k, err := admin.CredsKey(ctx, "acme", key)
		if err != nil {
			t.Fatal(err)
		}
		if k.HasSecret != want {
			t.Errorf("creds key %s: has_secret %v, want %v", key, k.HasSecret, want)
		}
	}
}

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
