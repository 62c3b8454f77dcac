package console_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/cors"
)

// TestViewerOnAzurite runs the viewer against a real Azurite, whose account starts without
// CORS rules: the page explains the missing rule, and once `tarn cors set` has added it
// (package cors, as the command does), the rows and images are read from Azurite, through
// blob URLs with the vended SAS, and from nowhere else.
func TestViewerOnAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	container := "az://" + az.Account + "/" + az.Container
	// Azurite cannot sign or check directory SAS: the key hands out container SAS.
	v := newViewerEnv(t, az.HostPort(), api.PutCredsKeyRequest{Provider: api.ProviderAzure, Secret: az.AccountKey,
		Config: api.CredsKeyConfig{Roots: []string{container}, Account: az.Account, Endpoint: az.Endpoint,
			Auth: api.AuthSharedKey, Scope: api.ScopeContainer}}, container+"/viewer")
	svc, err := service.NewClientWithSharedKeyCredential(az.Endpoint+"/", az.SharedKeyCredential(),
		&service.ClientOptions{ClientOptions: az.ClientOptions().ClientOptions})
	if err != nil {
		t.Fatal(err)
	}
	store := cors.Azure{Client: svc, Account: az.Account}
	if err := store.SetRules(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.SetRules(t.Context(), nil) }) // the rules are the whole account's

	p := browsertest.New(t)
	v.signIn(p, v.AdminToken)
	p.Navigate(v.url + "/orgs/acme/datasets/pets")
	p.WaitFor("the viewer's error", `document.querySelector("#viewer-status.error")`)
	if got := p.Text("#viewer-status"); !strings.Contains(got, "CORS") || !strings.Contains(got, "tarn cors set "+container+"/viewer/pets") {
		t.Errorf("without CORS rules the viewer says %q", got)
	}
	p.TakeErrors() // the blocked reads

	if _, err := cors.Set(t.Context(), store, cors.NewRule(v.url)); err != nil {
		t.Fatal(err)
	}
	p.Requests()
	p.Navigate(v.url + "/orgs/acme/datasets/pets")
	waitPage(t, p, 3, 1)
	if n := decodedImages(p); n != 50 {
		t.Errorf("%d images decoded, want 50", n)
	}
	p.Screenshot("viewer-azurite")
	checkRequests(t, p.Requests(), v.url, az.Endpoint)
}
