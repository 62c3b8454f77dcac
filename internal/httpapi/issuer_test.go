package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/httpapi"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestIssuerRotateIsAuditedAndPublished(t *testing.T) {
	env := testenv.New(t, testenv.Options{Issuer: true})
	ctx := context.Background()
	admin := env.Admin(t)
	first, err := admin.RotateIssuerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := admin.RotateIssuerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.Generation != first.Generation+1 || !next.NotBefore.Equal(env.Clock.Now().Add(issuer.DefaultPublishLead)) {
		t.Errorf("rotated key %+v after %+v: want the next generation, signing after the publish lead", next, first)
	}
	resp, err := http.Get(env.URL + issuer.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []struct{ Kid string } }
	json.NewDecoder(resp.Body).Decode(&set)
	var want []string
	for _, g := range []*api.IssuerKeys{next, first} {
		for _, k := range g.Keys {
			want = append(want, k.ID)
		}
	}
	var got []string
	for _, k := range set.Keys {
		got = append(got, k.Kid)
	}
	if len(first.Keys) != 2 || !slices.Equal(got, want) {
		t.Errorf("JWKS %q, want both generations' ES256 and RS256 keys, newest first: %q", got, want)
	}
	recs, err := env.Server.Store.Audit(ctx, store.AuditQuery{Action: httpapi.ActIssuerRotate})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Result != "ok" || !strings.Contains(recs[1].Detail, next.Keys[1].ID+" (RS256)") || !strings.HasPrefix(recs[1].Principal, "admin") {
		t.Errorf("audit records %+v, want two by admin, the last naming %s", recs, next.Keys[1].ID)
	}
}

func TestIssuerEndpointsNeedAPublicURL(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	for _, path := range []string{issuer.DiscoveryPath, issuer.JWKSPath} {
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s without a public URL: %d, want 404", path, w.Code)
		}
	}
	_, err := env.Admin(t).RotateIssuerKey(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--public-url") {
		t.Errorf("rotate without a public URL: %v, want a 400 naming --public-url", err)
	}
}
