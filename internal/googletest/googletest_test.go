package googletest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/google/downscope"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"

	"github.com/tarnhq/tarn/internal/googletest"
)

const (
	server = "tarn-server@tarn-prod.iam.gserviceaccount.com"
	target = "datasets@acme-ml.iam.gserviceaccount.com"
)

// chain drives the stand-ins with Google's own libraries: a service-account key's token,
// impersonation of target, and a downscoped token with rules.
func chain(t *testing.T, s *googletest.Server, rules []downscope.AccessBoundaryRule) (src, imp, down *oauth2.Token, err error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: s.Transport()})
	cfg, err := google.JWTConfigFromJSON(s.ServiceAccountKey(t, server), "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	srcTS := cfg.TokenSource(ctx)
	if src, err = srcTS.Token(); err != nil {
		return
	}
	impTS, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{
		TargetPrincipal: target, Scopes: []string{"https://www.googleapis.com/auth/devstorage.read_write"}, Lifetime: 30 * time.Minute,
	}, option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: srcTS, Base: s.Transport()}}))
	if err != nil {
		return
	}
	if imp, err = impTS.Token(); err != nil {
		return
	}
	downTS, err := downscope.NewTokenSource(ctx, downscope.DownscopingConfig{RootSource: impTS, Rules: rules})
	if err != nil {
		return
	}
	down, err = downTS.Token()
	return
}

func prefixRule() downscope.AccessBoundaryRule {
	return downscope.AccessBoundaryRule{
		AvailableResource:    "//storage.googleapis.com/projects/_/buckets/acme-data",
		AvailablePermissions: []string{"inRole:roles/storage.objectViewer"},
		Condition:            &downscope.AvailabilityCondition{Expression: "resource.name.startsWith('projects/_/buckets/acme-data/objects/coco/')"},
	}
}

// TestTheRealLibrariesGetABoundedToken walks the whole chain with the real libraries and
// checks that every token is known to the stand-in with the right principal and boundary.
func TestTheRealLibrariesGetABoundedToken(t *testing.T) {
	s := googletest.New(t, googletest.Options{})
	s.Grant(server, target)
	src, imp, down, err := chain(t, s, []downscope.AccessBoundaryRule{prefixRule()})
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := s.Lookup(src.AccessToken); !ok || tok.Kind != googletest.OAuth || tok.Principal != server {
		t.Errorf("source token = %+v, %v", tok, ok)
	}
	if tok, ok := s.Lookup(imp.AccessToken); !ok || tok.Kind != googletest.Impersonate || tok.Principal != target ||
		tok.Scopes[0] != "https://www.googleapis.com/auth/devstorage.read_write" {
		t.Errorf("impersonated token = %+v, %v", tok, ok)
	}
	if d := time.Until(imp.Expiry); d > 31*time.Minute || d < 29*time.Minute {
		t.Errorf("impersonated token lives %v, want the 30m asked for", d)
	}
	tok, ok := s.Lookup(down.AccessToken)
	if !ok || tok.Kind != googletest.Downscope || tok.Subject != imp.AccessToken || tok.Principal != target {
		t.Fatalf("downscoped token = %+v, %v", tok, ok)
	}
	want := prefixRule()
	if r := tok.Boundary.Rules; len(r) != 1 || r[0].AvailableResource != want.AvailableResource ||
		r[0].AvailablePermissions[0] != want.AvailablePermissions[0] || r[0].Condition.Expression != want.Condition.Expression {
		t.Errorf("boundary = %+v", tok.Boundary)
	}
	if len(s.Boundaries()) != 1 {
		t.Errorf("recorded %d boundaries, want 1", len(s.Boundaries()))
	}
	for _, e := range []string{googletest.OAuth, googletest.Impersonate, googletest.Downscope} {
		if n := s.Calls(e); n != 1 {
			t.Errorf("%s called %d times, want 1", e, n)
		}
	}
}

// TestImpersonationNeedsTokenCreator: without the grant, IAM Credentials answers Google's
// 403 naming the permission.
func TestImpersonationNeedsTokenCreator(t *testing.T) {
	s := googletest.New(t, googletest.Options{})
	_, _, _, err := chain(t, s, []downscope.AccessBoundaryRule{prefixRule()})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "PERMISSION_DENIED") ||
		!strings.Contains(err.Error(), googletest.PermissionGetAccessToken) {
		t.Fatalf("impersonation without the grant: %v, want 403 PERMISSION_DENIED naming %s", err, googletest.PermissionGetAccessToken)
	}
	s.Grant(server, target)
	s.Revoke(server, target)
	if _, _, _, err := chain(t, s, []downscope.AccessBoundaryRule{prefixRule()}); err == nil {
		t.Fatal("a revoked grant still impersonates")
	}
}

// post sends form to the stand-in's STS and returns the status and the OAuth error code.
func post(t *testing.T, s *googletest.Server, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(s.URL+"/v1/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error
}

// TestSTSRefusesAsGoogleDoes: malformed exchanges are refused with 400 and Google's error
// codes, and nothing is recorded for them.
func TestSTSRefusesAsGoogleDoes(t *testing.T) {
	s := googletest.New(t, googletest.Options{})
	s.Grant(server, target)
	_, imp, _, err := chain(t, s, []downscope.AccessBoundaryRule{prefixRule()})
	if err != nil {
		t.Fatal(err)
	}
	opts := func(rules ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"accessBoundary": map[string]any{"accessBoundaryRules": rules}})
		return string(b)
	}
	rule := map[string]any{"availableResource": "//storage.googleapis.com/projects/_/buckets/acme-data", "availablePermissions": []string{"inRole:roles/storage.objectViewer"}}
	eleven := make([]map[string]any, 11)
	for i := range eleven {
		eleven[i] = rule
	}
	long := map[string]any{"availableResource": rule["availableResource"], "availablePermissions": rule["availablePermissions"],
		"availabilityCondition": map[string]string{"expression": "resource.name.startsWith('" + strings.Repeat("a", 2100) + "')"}}
	form := func(change func(url.Values)) url.Values {
		f := url.Values{"grant_type": {googletest.GrantTokenExchange}, "subject_token_type": {googletest.TokenTypeAccess},
			"requested_token_type": {googletest.TokenTypeAccess}, "subject_token": {imp.AccessToken}, "options": {opts(rule)}}
		change(f)
		return f
	}
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		code   string
	}{
		{"bad grant type", func(f url.Values) { f.Set("grant_type", "client_credentials") }, "invalid_request"},
		{"bad subject token type", func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2") }, "invalid_request"},
		{"no permissions", func(f url.Values) {
			f.Set("options", opts(map[string]any{"availableResource": rule["availableResource"]}))
		}, "invalid_request"},
		{"no resource", func(f url.Values) {
			f.Set("options", opts(map[string]any{"availablePermissions": rule["availablePermissions"]}))
		}, "invalid_request"},
		{"eleven rules", func(f url.Values) { f.Set("options", opts(eleven...)) }, "invalid_request"},
		{"options too long", func(f url.Values) { f.Set("options", opts(long)) }, "invalid_request"},
		{"no boundary", func(f url.Values) { f.Set("options", `{}`) }, "invalid_request"},
		{"unknown subject token", func(f url.Values) { f.Set("subject_token", "ya29.forged") }, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, code := post(t, s, form(tc.change)); status != http.StatusBadRequest || code != tc.code {
				t.Errorf("answer %d %q, want 400 %q", status, code, tc.code)
			}
		})
	}
	if status, _ := post(t, s, form(func(url.Values) {})); status != http.StatusOK {
		t.Fatalf("a well-formed exchange answered %d", status)
	}
	if n := len(s.Boundaries()); n != 2 {
		t.Errorf("recorded %d boundaries, want 2 (the chain's and the well-formed one)", n)
	}
}

// TestTokensExpireByTheInjectedClock: an impersonated token past its expiry is no subject
// for STS and no caller for IAM Credentials.
func TestTokensExpireByTheInjectedClock(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := googletest.New(t, googletest.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	s.Grant(server, target)
	_, imp, _, err := chain(t, s, []downscope.AccessBoundaryRule{prefixRule()})
	if err != nil {
		t.Fatal(err)
	}
	now.Add(int64(31 * time.Minute))
	f := url.Values{"grant_type": {googletest.GrantTokenExchange}, "subject_token_type": {googletest.TokenTypeAccess},
		"requested_token_type": {googletest.TokenTypeAccess}, "subject_token": {imp.AccessToken},
		"options": {`{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/acme-data","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`}}
	if status, code := post(t, s, f); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("an expired subject token: %d %q, want 400 invalid_grant", status, code)
	}
}
