package azuresas_test

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/location"
)

// A write vend for a prefix of an account with hierarchical namespace is a directory SAS.
func ExampleDriver_Vend() {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d := azuresas.New(azuresas.Options{Now: func() time.Time { return now }})
	key := provider.Key{Org: "acme", Name: "az", Secret: []byte(emuKey), Config: api.CredsKeyConfig{
		Roots: []string{"az://acmeml/datasets"}, Account: "acmeml", Auth: api.AuthSharedKey,
		HierarchicalNamespace: true, Endpoint: "https://acmeml.blob.core.windows.net",
	}}
	loc, _ := location.ParseStorage("az://acmeml/datasets/vision/coco")
	c, err := d.Vend(context.Background(), provider.Request{Key: key, Location: loc, Mode: api.ModeWrite, TTL: time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	q, _ := url.ParseQuery(c.Azure.SASToken)
	fmt.Println("container:", c.Azure.Container, "prefix:", c.Azure.Prefix)
	for _, f := range []string{"sr", "sdd", "sp", "spr", "st", "se"} {
		fmt.Printf("%s=%s\n", f, q.Get(f))
	}
	// Output:
	// container: datasets prefix: vision/coco
	// sr=d
	// sdd=2
	// sp=racwdl
	// spr=https
	// st=2026-12-01T11:59:00Z
	// se=2026-12-01T13:00:00Z
}
