package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/httpapi"
	"github.com/tarnhq/tarn/internal/testenv"
)

// An in-process request on behalf of a token (the console's) is that token's: admitted and
// refused as its bearer would be, and refused once the token is revoked.
func TestSessionTokenActsAsItsToken(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	if _, err := e.Admin(t).CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	reader := e.Client(t, e.NewUser(t, "rita", "acme", "reader"))
	me, err := reader.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	call := func(id, method, path string) (int, api.Problem) {
		t.Helper()
		r := httptest.NewRequestWithContext(httpapi.WithSessionToken(ctx, id), method, api.Prefix+path, nil)
		w := httptest.NewRecorder()
		e.Server.API.ServeHTTP(w, r)
		var p api.Problem
		json.Unmarshal(w.Body.Bytes(), &p)
		return w.Code, p
	}
	if st, p := call(me.TokenID, "GET", "/orgs/acme/datasets"); st != http.StatusOK {
		t.Fatalf("reader's session listing datasets: %d %s", st, p.Detail)
	}
	if st, _ := call(me.TokenID, "PUT", "/orgs/acme/default-storage"); st != http.StatusForbidden {
		t.Errorf("reader's session setting default storage: %d, want 403", st)
	}
	if st, _ := call("tok_nosuchtoken", "GET", "/whoami"); st != http.StatusUnauthorized {
		t.Errorf("session of an unknown token: %d, want 401", st)
	}
	if err := reader.RevokeToken(ctx, me.TokenID); err != nil {
		t.Fatal(err)
	}
	if st, _ := call(me.TokenID, "GET", "/whoami"); st != http.StatusUnauthorized {
		t.Errorf("session of a revoked token: %d, want 401", st)
	}
}
