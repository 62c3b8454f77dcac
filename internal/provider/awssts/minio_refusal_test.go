package awssts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/provider"
)

// What a real MinIO answers that retrying will not change is Upstream (502) with the cause
// and what to do, never Unavailable (503): it has no GetCallerIdentity (400
// InvalidParameterValue "Unsupported action"), and it refuses a wrong secret or an unknown
// access key with AccessDenied.
func TestMinIORefusalsArePermanent(t *testing.T) {
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	d := minioDriver(t, srv)
	loc := parse(t, "s3://"+srv.Bucket+"/datasets/refusals")
	badSecret := func(k *provider.Key) { k.Secret = []byte("not-the-secret-of-this-user") }
	unknownKey := func(k *provider.Key) { k.Config.AccessKeyID = "no-such-user" }
	for _, tc := range []struct {
		name string
		mod  func(*provider.Key)
		call func(context.Context, provider.Key) error
		want []string
	}{
		{"provision without a principal", nil, func(ctx context.Context, k provider.Key) error {
			_, err := d.Provision(ctx, k, api.ProvisionRequest{Bucket: srv.Bucket, Prefix: "datasets"})
			return err
		}, []string{"GetCallerIdentity failed: InvalidParameterValue", "does not implement sts:GetCallerIdentity", "--principal-arn", srv.UserAccessKey}},
		{"vend with a wrong secret", badSecret, func(ctx context.Context, k provider.Key) error {
			_, err := d.Vend(ctx, provider.Request{Key: k, Location: loc, Mode: api.ModeRead})
			return err
		}, []string{"AccessDenied", "or its secret was refused", "tarn creds add"}},
		{"vend with an unknown access key", unknownKey, func(ctx context.Context, k provider.Key) error {
			_, err := d.Vend(ctx, provider.Request{Key: k, Location: loc, Mode: api.ModeRead})
			return err
		}, []string{"AccessDenied", "the access key no-such-user or its secret was refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := minioKey(t, srv, v)
			if tc.mod != nil {
				tc.mod(&k)
			}
			err := tc.call(t.Context(), k)
			if !errs.Is(errs.Upstream, err) || errs.RetryAfter(err) != 0 {
				t.Fatalf("err = %v, want kind Upstream without Retry-After", err)
			}
			e := err.(*errs.Error)
			for _, w := range tc.want {
				if !strings.Contains(e.Detail, w) {
					t.Errorf("detail %q lacks %q", e.Detail, w)
				}
			}
			if strings.Contains(e.Detail, "Unsupported action") || strings.Contains(e.Detail, "signature we calculated") {
				t.Errorf("detail %q repeats the store's message", e.Detail)
			}
		})
	}

}
