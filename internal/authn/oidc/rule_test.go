package oidc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/errs"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	otherTenant = "11111111-2222-3333-4444-555555555555"
	clientID    = "0b6e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
)

// TestRulesMatchVerifiedTokens verifies real tokens from issuers named as each platform names
// them, then matches them against registered identities: every family's happy path and the
// refusals of the attack table that only a rule can catch.
func TestRulesMatchVerifiedTokens(t *testing.T) {
	azV2 := setup(t, "https://login.microsoftonline.com/"+tenant+"/v2.0")
	azV1 := setup(t, "https://sts.windows.net/"+tenant+"/")
	azOther := setup(t, "https://login.microsoftonline.com/"+otherTenant+"/v2.0")
	gh := setup(t, oidc.GitHubIssuer)
	k8s := setup(t, "https://oidc.prod-aks.azure.com/abc/")
	gen := setup(t, "")

	azure := oidc.AzureRule{TenantID: tenant, ClientID: clientID}
	github := oidc.GitHubRule{Repository: "tarnhq/train", Ref: "refs/heads/main", Environment: "prod"}
	pinned := oidc.GitHubRule{Repository: "tarnhq/train", RepositoryID: "123456", OwnerID: "42"}
	kube := oidc.KubernetesRule{Issuer: k8s.iss.URL, Namespace: "ml", ServiceAccount: "trainer"}
	generic := oidc.GenericRule{Issuer: gen.iss.URL, Audience: "api://tarn", Subject: "job-7", Claims: map[string]string{"team": "ml", "prod": "true"}}

	ghClaims := func(kv ...string) map[string]any {
		m := map[string]any{"sub": "repo:tarnhq/train:environment:prod", "repository": "tarnhq/train", "ref": "refs/heads/main", "environment": "prod",
			"repository_id": "123456", "repository_owner_id": "42"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
			if kv[i+1] == "" {
				delete(m, kv[i])
			}
		}
		return m
	}
	tests := []struct {
		name string
		e    env
		rule oidc.Matcher
		c    map[string]any
		ok   bool
	}{
		{"azure v2", azV2, azure, map[string]any{"sub": "oid", "tid": tenant, "azp": clientID}, true},
		{"azure v1", azV1, azure, map[string]any{"sub": "oid", "tid": tenant, "appid": clientID}, true},
		{"azure other tenant", azOther, azure, map[string]any{"sub": "oid", "tid": otherTenant, "azp": clientID}, false},
		{"azure tid of another tenant on our issuer", azV2, azure, map[string]any{"sub": "oid", "tid": otherTenant, "azp": clientID}, false},
		{"azure other client", azV2, azure, map[string]any{"sub": "oid", "tid": tenant, "azp": "someone-else"}, false},
		{"azure v2 with appid only", azV2, azure, map[string]any{"sub": "oid", "tid": tenant, "appid": clientID}, false},
		{"azure no tid", azV1, azure, map[string]any{"sub": "oid", "appid": clientID}, false},
		{"github", gh, github, ghClaims(), true},
		{"github any ref", gh, oidc.GitHubRule{Repository: "tarnhq/train"}, ghClaims("ref", "refs/heads/dev"), true},
		{"github other repository", gh, github, ghClaims("repository", "evil/train"), false},
		{"github other ref", gh, github, ghClaims("ref", "refs/heads/dev"), false},
		{"github other environment", gh, github, ghClaims("environment", "staging"), false},
		{"github token from another issuer", k8s, github, ghClaims(), false},
		// Pinned by ID: a renamed repository still matches, a re-created one of the same
		// name (new ID) does not, nor one of another owner.
		{"github pinned, renamed", gh, pinned, ghClaims("repository", "tarnhq/train-v2"), true},
		{"github pinned, re-created under the old name", gh, pinned, ghClaims("repository_id", "999"), false},
		{"github pinned, no repository_id claim", gh, pinned, ghClaims("repository_id", ""), false},
		{"github pinned owner, other owner", gh, pinned, ghClaims("repository_owner_id", "1"), false},
		{"github name rule ignores IDs", gh, github, ghClaims("repository_id", "999"), true},
		{"kubernetes", k8s, kube, map[string]any{"sub": "system:serviceaccount:ml:trainer"}, true},
		{"kubernetes unregistered subject", k8s, kube, map[string]any{"sub": "system:serviceaccount:ml:admin"}, false},
		{"kubernetes other namespace", k8s, kube, map[string]any{"sub": "system:serviceaccount:default:trainer"}, false},
		{"oidc", gen, generic, map[string]any{"sub": "job-7", "team": "ml", "prod": true}, true},
		{"oidc unregistered subject", gen, generic, map[string]any{"sub": "job-8", "team": "ml", "prod": true}, false},
		{"oidc claim differs", gen, generic, map[string]any{"sub": "job-7", "team": "web", "prod": true}, false},
		{"oidc claim missing", gen, generic, map[string]any{"sub": "job-7", "prod": true}, false},
		{"oidc claim of another type", gen, generic, map[string]any{"sub": "job-7", "team": []string{"ml"}, "prod": true}, false},
		{"oidc issuer differs", k8s, generic, map[string]any{"sub": "job-7", "team": "ml", "prod": true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustVerify(t, tt.e.v, tt.e.iss.Mint(tt.c))
			err := tt.rule.Match(c)
			if tt.ok && err != nil {
				t.Fatalf("Match: %v", err)
			}
			if !tt.ok {
				wantKind(t, err, errs.Unauthenticated, "")
			}
		})
	}
}

func TestRulesRefuseIncompleteRegistrations(t *testing.T) {
	c := &oidc.Claims{Issuer: "https://x", Subject: "system:serviceaccount::", All: map[string]any{"tid": "", "azp": "", "repository": ""}}
	for _, r := range []oidc.Matcher{
		oidc.AzureRule{}, oidc.AzureRule{TenantID: tenant}, oidc.GitHubRule{},
		oidc.KubernetesRule{Issuer: "https://x"}, oidc.GenericRule{Issuer: "https://x"},
	} {
		if err := r.Match(c); !errs.Is(errs.Unauthenticated, err) {
			t.Errorf("%#v.Match = %v, want Unauthenticated", r, err)
		}
	}
}

func TestAzureIssuers(t *testing.T) {
	got := oidc.AzureRule{TenantID: tenant, ClientID: clientID}.Issuers()
	want := []string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Issuers = %v, want %v", got, want)
	}
	if got := (oidc.AzureRule{TenantID: "a/../b?"}).Issuers(); got[0] == "https://login.microsoftonline.com/a/../b?/v2.0" {
		t.Fatalf("tenant ID shaped the URL: %v", got)
	}
}

func ExampleKubernetesRule_Match() {
	r := oidc.KubernetesRule{Issuer: "https://kubernetes.default.svc", Namespace: "ml", ServiceAccount: "trainer"}
	c := &oidc.Claims{Issuer: "https://kubernetes.default.svc", Subject: "system:serviceaccount:ml:trainer"}
	fmt.Println(r.Match(c))
	c.Subject = "system:serviceaccount:ml:admin"
	fmt.Println(r.Match(c))
	// Output:
	// <nil>
	// token sub claim does not match the identity (want "system:serviceaccount:ml:trainer")
}

func ExampleAzureRule_Match() {
	r := oidc.AzureRule{TenantID: tenant, ClientID: clientID}
	c := &oidc.Claims{
		Issuer: "https://sts.windows.net/" + tenant + "/",
		All:    map[string]any{"tid": tenant, "appid": clientID},
	}
	fmt.Println(r.Match(c))
	// Output: <nil>
}

func ExampleGitHubRule_Match() {
	r := oidc.GitHubRule{Repository: "tarnhq/train", Ref: "refs/heads/main"}
	c := &oidc.Claims{Issuer: oidc.GitHubIssuer, All: map[string]any{"repository": "tarnhq/train", "ref": "refs/heads/dev"}}
	fmt.Println(r.Match(c))
	// Output: token ref claim does not match the identity (want "refs/heads/main")
}

func ExampleGenericRule_Match() {
	r := oidc.GenericRule{Issuer: "https://idp.example.com", Subject: "job-7", Claims: map[string]string{"team": "ml"}}
	c := &oidc.Claims{Issuer: "https://idp.example.com", Subject: "job-7", All: map[string]any{"team": "ml"}}
	fmt.Println(r.Match(c))
	// Output: <nil>
}

func ExampleVerifier_Verify() {
	// In tarn the server discovers every registered issuer; a token from any other is refused.
	v := oidc.NewVerifier(oidc.Options{})
	_, err := v.Verify(context.Background(), "eyJhbGciOiJub25lIn0.e30.")
	fmt.Println(errs.KindOf(err) == errs.Unauthenticated, err)
	// Output: true token algorithm "none" is not accepted: tarn accepts RS256 and ES256 only
}

// TestRulesRelate: a rule relates to tokens of its own workload whether or not they match
// (another ref of the repository, another client of the tenant, another service account of
// the namespace), and to nothing else of a shared issuer.
func TestRulesRelate(t *testing.T) {
	const k8s = "https://oidc.prod-aks.azure.com/abc/"
	claims := func(iss, sub string, kv ...string) *oidc.Claims {
		c := &oidc.Claims{Issuer: iss, Subject: sub, All: map[string]any{}}
		for i := 0; i < len(kv); i += 2 {
			c.All[kv[i]] = kv[i+1]
		}
		return c
	}
	azV2 := "https://login.microsoftonline.com/" + tenant + "/v2.0"
	for _, tc := range []struct {
		name    string
		rule    oidc.Matcher
		c       *oidc.Claims
		related bool
	}{
		{"github same repository, other ref", oidc.GitHubRule{Repository: "tarnhq/train", Ref: "refs/heads/main"}, claims(oidc.GitHubIssuer, "x", "repository", "tarnhq/train", "ref", "refs/heads/dev"), true},
		{"github other repository", oidc.GitHubRule{Repository: "tarnhq/train"}, claims(oidc.GitHubIssuer, "x", "repository", "evil/x"), false},
		{"github pinned, renamed", oidc.GitHubRule{Repository: "tarnhq/train", RepositoryID: "7"}, claims(oidc.GitHubIssuer, "x", "repository", "tarnhq/new", "repository_id", "7"), true},
		{"github pinned, same name, other ID", oidc.GitHubRule{Repository: "tarnhq/train", RepositoryID: "7"}, claims(oidc.GitHubIssuer, "x", "repository", "tarnhq/train", "repository_id", "8"), false},
		{"azure same tenant, other client", oidc.AzureRule{TenantID: tenant, ClientID: clientID}, claims(azV2, "x", "tid", tenant, "azp", "other"), true},
		{"azure tid of another tenant", oidc.AzureRule{TenantID: tenant, ClientID: clientID}, claims(azV2, "x", "tid", otherTenant), false},
		{"kubernetes same namespace", oidc.KubernetesRule{Issuer: k8s, Namespace: "ml", ServiceAccount: "trainer"}, claims(k8s, "system:serviceaccount:ml:other"), true},
		{"kubernetes other namespace", oidc.KubernetesRule{Issuer: k8s, Namespace: "ml", ServiceAccount: "trainer"}, claims(k8s, "system:serviceaccount:mlx:trainer"), false},
		{"oidc same subject, other claims", oidc.GenericRule{Issuer: k8s, Subject: "job-7", Claims: map[string]string{"team": "ml"}}, claims(k8s, "job-7", "team", "web"), true},
		{"oidc other subject", oidc.GenericRule{Issuer: k8s, Subject: "job-7"}, claims(k8s, "job-8"), false},
	} {
		if got := tc.rule.Related(tc.c); got != tc.related {
			t.Errorf("%s: Related = %v, want %v", tc.name, got, tc.related)
		}
	}
}
