package gcsdownscope_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// TestProvisionFindsThePrincipalInTheADC: for auth default, Provision answers the service
// account the server's ADC act as, found in their JSON for each kind of ADC, and no
// principal for ADC that name none or are no ADC at all.
func TestProvisionFindsThePrincipalInTheADC(t *testing.T) {
	const impersonate = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + serverSA + ":generateAccessToken"
	for _, tc := range []struct {
		name, adc, want string
	}{
		{"service_account", `{"type":"service_account","client_email":"` + serverSA + `","private_key":"x"}`, "serviceAccount:" + serverSA},
		{"impersonated_service_account", `{"type":"impersonated_service_account","service_account_impersonation_url":"` + impersonate + `",` +
			`"source_credentials":{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}}`, "serviceAccount:" + serverSA},
		{"external_account impersonating", `{"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",` +
			`"service_account_impersonation_url":"` + impersonate + `"}`, "serviceAccount:" + serverSA},
		{"external_account", `{"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q"}`, ""},
		{"authorized_user", `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}`, ""},
		{"a client_email of another type", `{"type":"authorized_user","client_email":"` + serverSA + `"}`, ""},
		{"a client_email that is no service account", `{"type":"service_account","client_email":"ops@acme.com"}`, ""},
		{"an impersonation URL that names no account", `{"type":"impersonated_service_account","service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/x"}`, ""},
		{"an email that would run in a shell", `{"type":"service_account","client_email":"a$(id)@p.iam.gserviceaccount.com"}`, ""},
		{"garbage", `{"type":`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, &google.Credentials{JSON: []byte(tc.adc)})
			got, err := f.d.Provision(context.Background(), f.key(api.AuthDefault, nil), api.ProvisionRequest{Bucket: "acme-data"})
			if err != nil {
				t.Fatal(err)
			}
			if got.PrincipalARN != tc.want {
				t.Errorf("principal %q, want %q", got.PrincipalARN, tc.want)
			}
		})
	}
}

// TestProvisionOfAKeyAndAGivenPrincipal: auth service-account-key answers the client_email
// of the key's secret, and a principal in the request is answered as is.
func TestProvisionOfAKeyAndAGivenPrincipal(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	got, err := f.d.Provision(ctx, f.key(api.AuthServiceAccountKey, f.g.ServiceAccountKey(t, orgSA)), api.ProvisionRequest{Bucket: "acme-data"})
	if err != nil || got.PrincipalARN != "serviceAccount:"+orgSA {
		t.Errorf("service-account-key: %+v, %v; want serviceAccount:%s", got, err, orgSA)
	}
	got, err = f.d.Provision(ctx, f.key(api.AuthDefault, nil), api.ProvisionRequest{Bucket: "acme-data", PrincipalARN: "user:ops@acme.com"})
	if err != nil || got.PrincipalARN != "user:ops@acme.com" {
		t.Errorf("given principal: %+v, %v", got, err)
	}
	_, err = f.d.Provision(ctx, f.key(api.AuthServiceAccountKey, []byte(`{"type":"authorized_user"}`)), api.ProvisionRequest{Bucket: "acme-data"})
	if errs.KindOf(err) != errs.Invalid || strings.Contains(err.Error(), "authorized_user") {
		t.Errorf("a secret that is no key: %v, want kind Invalid without quoting it", err)
	}
}

// TestProvisionNeverAsksTheMetadataServerForGivenCredentials: given credentials without
// JSON have no known principal, and Provision does not ask a metadata server for one (here
// one on loopback that GCE_METADATA_HOST points the metadata client at, which counts).
func TestProvisionNeverAsksTheMetadataServerForGivenCredentials(t *testing.T) {
	var asked atomic.Int32
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Metadata-Flavor", "Google")
		w.Write([]byte(serverSA))
	}))
	t.Cleanup(md.Close)
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(md.URL, "http://"))
	f := newFixture(t, &google.Credentials{})
	got, err := f.d.Provision(context.Background(), f.key(api.AuthDefault, nil), api.ProvisionRequest{Bucket: "acme-data"})
	if err != nil || got.PrincipalARN != "" || asked.Load() != 0 {
		t.Errorf("principal %+v, %v; metadata server asked %d times; want none and not asked", got, err, asked.Load())
	}
}
