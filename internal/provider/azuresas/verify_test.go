package azuresas

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider"
)

func TestVerifyFlatPrefixFailsOnScope(t *testing.T) {
	d := newDriver(t)
	key := provider.Key{Org: "acme", Name: "az", Secret: []byte(emuKey), Config: api.CredsKeyConfig{
		Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount, Auth: api.AuthSharedKey, Endpoint: publicEndpoint(emuAccount)}}
	checks := d.Verify(context.Background(), key, mustLoc(t, "az://devstoreaccount1/data/coco"))
	if len(checks) != 1 || checks[0].OK || checks[0].Name != "sas scope" || !strings.Contains(checks[0].Detail, "--scope container") {
		t.Fatalf("checks = %+v; want one failed sas scope check naming the options", checks)
	}
}

// TestVerifyUnreachableEndpoint: with nothing listening at the endpoint, listing and the
// probe fail naming the cause, and the refusal checks, which would pass for a SAS that works
// for nothing, are left out.
func TestVerifyUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := newDriver(t, addr)
	cfg, err := d.CheckConfig(context.Background(), api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount,
		Endpoint: "http://" + addr + "/" + emuAccount, Auth: api.AuthSharedKey}, provider.ConfigCheck{HasSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	checks := d.Verify(context.Background(), provider.Key{Org: "acme", Name: "az", Config: cfg, Secret: []byte(emuKey)}, mustLoc(t, "az://devstoreaccount1/data"))
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
		if strings.HasPrefix(c.Name, "list") || strings.HasPrefix(c.Name, "probe") {
			if c.OK || !strings.Contains(c.Detail, "cannot reach the endpoint") {
				t.Errorf("%s: %+v; want a failure saying the endpoint cannot be reached", c.Name, c)
			}
		} else if !c.OK {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}
	want := "sas scope,sign a SAS with the account key,list with a read SAS,probe round trip with a write SAS"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("checks %s, want %s", got, want)
	}
}
