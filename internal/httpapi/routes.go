package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/authn/apitoken"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/vend"
	"github.com/tarnhq/tarn/location"
)

// Audit actions.
const (
	ActUserCreate     = "user.create"
	ActOrgCreate      = "org.create"
	ActMemberPut      = "member.put"
	ActMemberDelete   = "member.delete"
	ActTokenCreate    = "token.create"
	ActTokenRevoke    = "token.revoke"
	ActCredsKeyPut    = "creds_key.put"
	ActCredsKeyDelete = "creds_key.delete"
	ActCredsKeyVerify = "creds_key.verify"
	ActCredsKeyRotate = "creds_key.rotate_external_id"
	ActDefaultStorage = "default_storage.set"
	ActDatasetCreate  = "dataset.create"
	ActDatasetUpdate  = "dataset.update"
	ActDatasetDelete  = "dataset.delete"
	ActDatasetLink    = "dataset.link_creds_key"
	ActVend           = "vend"
	ActVendLinked     = "vend.linked"
	ActPresign        = "presign"
)

// AuditActions lists, sorted, every action an audit record of the API may name: each
// route's, for its successes or its denials. The console's audit filter offers them.
var AuditActions = []string{
	"audit.list", ActCredsKeyDelete, "creds_key.get", "creds_key.list", "creds_key.provision", ActCredsKeyPut,
	ActCredsKeyRotate, ActCredsKeyVerify, ActDatasetCreate, ActDatasetDelete, "dataset.get", ActDatasetLink,
	"dataset.list", ActDatasetUpdate, ActDefaultStorage, ActIdentityDelete, "identity.get", "identity.list",
	ActIdentityPut, ActIssuerRotate, ActMemberDelete, "member.list", ActMemberPut, ActOrgCreate, "org.get", "org.list",
	ActPresign, ActTokenCreate, ActTokenExchange, "token.list", ActTokenRevoke, ActUserCreate, "user.list", ActVend,
	ActVendLinked, "whoami",
}

// Actions returns the audit action of every API endpoint but the unaudited object route
// (the last of Routes), in the order of Routes.
func (a *API) Actions() []string { return slices.Clone(a.actions) }

// routes lists every API endpoint. Each handler authorizes first, before it reveals or
// changes anything.
func (a *API) routes() {
	for _, rt := range []route{
		{"GET /whoami", "whoami", false, members, a.whoami},
		{"POST /users", ActUserCreate, true, members, a.createUser},
		{"GET /users", "user.list", false, members, a.listUsers},
		{"POST /orgs", ActOrgCreate, true, members, a.createOrg},
		{"GET /orgs", "org.list", false, members, a.listOrgs},
		{"GET /orgs/{org}", "org.get", false, members, a.getOrg},
		{"GET /orgs/{org}/members", "member.list", false, members, a.listMembers},
		{"PUT /orgs/{org}/members/{user}", ActMemberPut, true, members, a.putMember},
		{"DELETE /orgs/{org}/members/{user}", ActMemberDelete, true, members, a.deleteMember},
		{"POST /tokens", ActTokenCreate, true, members, a.createToken},
		{"GET /tokens", "token.list", false, members, a.listTokens},
		{"DELETE /tokens/{id}", ActTokenRevoke, true, members, a.revokeToken},
		{"PUT /orgs/{org}/creds-keys/{key}", ActCredsKeyPut, true, members, a.putCredsKey},
		{"GET /orgs/{org}/creds-keys", "creds_key.list", false, members, a.listCredsKeys},
		{"GET /orgs/{org}/creds-keys/{key}", "creds_key.get", false, members, a.getCredsKey},
		{"DELETE /orgs/{org}/creds-keys/{key}", ActCredsKeyDelete, true, members, a.deleteCredsKey},
		{"POST /orgs/{org}/creds-keys/{key}/verify", ActCredsKeyVerify, true, members, a.verifyCredsKey},
		{"POST /orgs/{org}/creds-keys/{key}/rotate-external-id", ActCredsKeyRotate, true, members, a.rotateExternalID},
		{"POST /orgs/{org}/creds-keys/{key}/provision", "creds_key.provision", false, members, a.provision},
		{"POST /orgs/{org}/creds-keys/{key}/credentials", ActVend, true, members, a.vendLocation},
		{"PUT /orgs/{org}/default-storage", ActDefaultStorage, true, members, a.setDefaultStorage},
		{"POST /orgs/{org}/datasets", ActDatasetCreate, true, members, a.createDataset},
		{"GET /orgs/{org}/datasets", "dataset.list", false, members, a.listDatasets},
		{"GET /orgs/{org}/datasets/{name}", "dataset.get", false, publicDatasets, a.getDataset},
		{"PATCH /orgs/{org}/datasets/{name}", ActDatasetUpdate, true, members, a.updateDataset},
		{"DELETE /orgs/{org}/datasets/{name}", ActDatasetDelete, true, members, a.deleteDataset},
		{"PUT /orgs/{org}/datasets/{name}/linked-creds-keys/{key}", ActDatasetLink, true, members, a.linkCredsKey},
		{"POST /orgs/{org}/datasets/{name}/credentials", ActVend, true, publicDatasets, a.vendDataset},
		{"POST /orgs/{org}/datasets/{name}/linked-credentials", ActVendLinked, true, members, a.vendLinked},
		{"POST /orgs/{org}/datasets/{name}/presign", ActPresign, true, publicDatasets, a.presignDataset},
		{"GET /orgs/{org}/audit", "audit.list", false, members, a.listAudit},
		{"PUT /orgs/{org}/identities/{name}", ActIdentityPut, true, members, a.putIdentity},
		{"GET /orgs/{org}/identities", "identity.list", false, members, a.listIdentities},
		{"GET /orgs/{org}/identities/{name}", "identity.get", false, members, a.getIdentity},
		{"DELETE /orgs/{org}/identities/{name}", ActIdentityDelete, true, members, a.deleteIdentity},
		{"POST /oauth/token", ActTokenExchange, true, anyone, a.exchangeToken},
		{"POST /issuer/rotate", ActIssuerRotate, true, members, a.rotateIssuerKey},
	} {
		a.handle(rt)
	}
}

// Routes returns the pattern ("METHOD /api/v1/...") of every API endpoint, for tests that
// must cover them all; the last is the object route of file datasets, which takes no
// Authorization header by design (its signed URL authorizes) and is not audited.
func (a *API) Routes() []string { return append(slices.Clone(a.patterns), objectsPattern) }

func (a *API) whoami(c *call) (int, any, error) {
	p := c.principal
	ms, err := a.authz.Orgs(c.ctx, p)
	if err != nil {
		return 0, nil, err
	}
	w := api.Whoami{User: p.User, Identity: p.Identity, Superuser: p.Superuser, TokenID: p.TokenID, TokenOrg: p.TokenOrg,
		TokenRole: string(p.TokenRole), Orgs: []api.Membership{}}
	for _, m := range ms {
		w.Orgs = append(w.Orgs, api.Membership{Org: m.Org, User: m.User, Role: string(m.Role)})
	}
	return http.StatusOK, w, nil
}

func (a *API) createUser(c *call) (int, any, error) {
	var req api.CreateUserRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	c.record.Target = "user:" + req.Name
	if err := a.authz.Superuser(c.principal); err != nil {
		return 0, nil, err
	}
	if err := checkName("user", req.Name); err != nil {
		return 0, nil, errs.InField(err, "name")
	}
	u := store.User{Name: req.Name, Superuser: req.Superuser, CreatedAt: a.now().UTC()}
	if err := a.store.CreateUser(c.ctx, u); errs.Is(errs.Conflict, err) {
		return 0, nil, errs.InField(err, "name") // the name is taken
	} else if err != nil {
		return 0, nil, err
	}
	secret, t, err := a.mintToken(c, store.Token{User: u.Name, Name: "first token"})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, api.CreateUserResponse{User: userJSON(u), Token: secret, TokenInfo: tokenJSON(t)}, nil
}

func (a *API) listUsers(c *call) (int, any, error) {
	if err := a.authz.Superuser(c.principal); err != nil {
		return 0, nil, err
	}
	us, err := a.store.Users(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	out := api.UserList{Users: []api.User{}}
	for _, u := range us {
		out.Users = append(out.Users, userJSON(u))
	}
	return http.StatusOK, out, nil
}

// mintToken stores a new token t (ID, hash and creation time filled in) and returns its secret.
func (a *API) mintToken(c *call, t store.Token) (string, store.Token, error) {
	secret, hash := apitoken.New()
	t.ID, t.Hash, t.CreatedAt = apitoken.NewID("tok_"), hash, a.now().UTC()
	if err := a.store.CreateToken(c.ctx, t); err != nil {
		return "", t, err
	}
	c.record.KeyID = t.ID
	return secret, t, nil
}

func (a *API) createOrg(c *call) (int, any, error) {
	var req api.CreateOrgRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	c.record.Org, c.record.Target = req.Name, "org:"+req.Name
	if err := a.authz.Superuser(c.principal); err != nil {
		return 0, nil, err
	}
	if err := checkName("org", req.Name); err != nil {
		return 0, nil, errs.InField(err, "name")
	}
	o := store.Org{Name: req.Name, CreatedAt: a.now().UTC()}
	if err := a.store.CreateOrg(c.ctx, o); errs.Is(errs.Conflict, err) {
		return 0, nil, errs.InField(err, "name") // the name is taken
	} else if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, orgJSON(o), nil
}

func (a *API) listOrgs(c *call) (int, any, error) {
	if err := a.authz.Superuser(c.principal); err != nil {
		return 0, nil, err
	}
	orgs, err := a.store.Orgs(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	out := api.OrgList{Orgs: []api.Org{}}
	for _, o := range orgs {
		out.Orgs = append(out.Orgs, orgJSON(o))
	}
	return http.StatusOK, out, nil
}

func (a *API) getOrg(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Reader); err != nil {
		return 0, nil, err
	}
	o, err := a.store.Org(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, orgJSON(o), nil
}

func (a *API) listMembers(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Reader); err != nil {
		return 0, nil, err
	}
	ms, err := a.store.Members(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	out := api.MemberList{Members: []api.Membership{}}
	for _, m := range ms {
		out.Members = append(out.Members, api.Membership{Org: m.Org, User: m.User, Role: string(m.Role)})
	}
	return http.StatusOK, out, nil
}

func (a *API) putMember(c *call) (int, any, error) {
	org, user := c.r.PathValue("org"), c.r.PathValue("user")
	c.record.Target = "user:" + user
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	var req api.PutMemberRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	role := store.Role(req.Role)
	if !role.Valid() {
		return 0, nil, errs.E(errs.Invalid, "role %q is not reader, writer or admin", req.Role).In("role")
	}
	c.record.Mode = req.Role
	if err := checkName("user", user); err != nil {
		return 0, nil, errs.InField(err, "user")
	}
	if _, err := a.store.User(c.ctx, user); err != nil {
		return 0, nil, errs.InField(err, "user")
	}
	if err := a.store.PutMember(c.ctx, store.Member{Org: org, User: user, Role: role}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.Membership{Org: org, User: user, Role: req.Role}, nil
}

func (a *API) deleteMember(c *call) (int, any, error) {
	org, user := c.r.PathValue("org"), c.r.PathValue("user")
	c.record.Target = "user:" + user
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if err := a.store.DeleteMember(c.ctx, org, user); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// errWorkloadTokens refuses token management to a workload identity: its tokens come from
// token exchange only.
func errWorkloadTokens(p authn.Principal, what string) error {
	return errs.E(errs.Permission, "workload identity %s cannot %s: a workload gets its tokens by token exchange (POST %s/oauth/token) only", p.Identity, what, api.Prefix)
}

func (a *API) createToken(c *call) (int, any, error) {
	if c.principal.IsWorkload() {
		return 0, nil, errWorkloadTokens(c.principal, "create tokens")
	}
	var req api.CreateTokenRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	p := c.principal
	t := store.Token{User: p.User, Name: req.Name, Org: req.Org, Role: store.Role(req.Role)}
	if len(t.Name) > 100 || strings.IndexFunc(t.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return 0, nil, errs.E(errs.Invalid, "token name must be at most 100 printable characters").In("name")
	}
	if t.Role != "" && !t.Role.Valid() {
		return 0, nil, errs.E(errs.Invalid, "role %q is not reader, writer or admin", req.Role).In("role")
	}
	if t.Role != "" && t.Org == "" {
		return 0, nil, errs.E(errs.Invalid, "a token role needs an org: pass --org with --role").In("org")
	}
	// A token never reaches beyond the token that created it.
	if p.TokenOrg != "" {
		if t.Org != "" && t.Org != p.TokenOrg {
			return 0, nil, errs.E(errs.Permission, "this token is limited to org %q and cannot create tokens for org %q", p.TokenOrg, t.Org)
		}
		t.Org = p.TokenOrg
	}
	if t.Org != "" {
		c.record.Org = t.Org
		if err := checkName("org", t.Org); err != nil {
			return 0, nil, err
		}
		have, err := a.authz.Role(c.ctx, p, t.Org)
		if err != nil {
			return 0, nil, err
		}
		if !have.Valid() {
			// The same answer whether the org exists or not.
			return 0, nil, errs.E(errs.Permission, "you are not a member of org %q, so you cannot create a token for it", t.Org).In("org")
		}
		if _, err := a.store.Org(c.ctx, t.Org); err != nil {
			return 0, nil, err // a superuser learns that it does not exist
		}
		if t.Role.Rank() > have.Rank() {
			return 0, nil, errs.E(errs.Permission, "cannot create a %s token for org %q: your role there is %s", t.Role, t.Org, have).In("role")
		}
		if t.Role == "" && p.TokenRole.Valid() {
			t.Role = have
		}
	}
	var err error
	if t.ExpiresAt, err = tokenExpiry(a.now().UTC(), req.TTLSeconds, p.TokenExpiresAt); err != nil {
		return 0, nil, err
	}
	secret, t, err := a.mintToken(c, t)
	if err != nil {
		return 0, nil, err
	}
	c.record.Target, c.record.Mode = "token:"+t.ID, string(t.Role)
	return http.StatusCreated, api.CreateTokenResponse{Token: secret, TokenInfo: tokenJSON(t)}, nil
}

// maxTTLSeconds is the longest ttl_seconds: longer ones overflow a time.Duration.
const maxTTLSeconds = math.MaxInt64 / int64(time.Second)

// tokenExpiry returns when a token created at now with ttlSeconds expires (zero: never):
// ttlSeconds 0 is DefaultTokenTTL, cut to the creating token's expiry limit (zero when the
// creating token never expires), and -1 is never. It returns an error of kind Invalid for
// any other ttlSeconds below 1, one above maxTTLSeconds, and one, or -1, that would make
// the new token outlive the creating token: a token never reaches beyond the token that
// created it, in time as in orgs.
func tokenExpiry(now time.Time, ttlSeconds int64, limit time.Time) (time.Time, error) {
	switch {
	case ttlSeconds < -1 || ttlSeconds > maxTTLSeconds:
		return time.Time{}, errs.E(errs.Invalid, "ttl_seconds %d is out of range: give 1 to %d seconds, 0 for the default (%s) or -1 for no expiry",
			ttlSeconds, maxTTLSeconds, DefaultTokenTTL).In("ttl_seconds")
	case ttlSeconds == 0:
		exp := now.Add(DefaultTokenTTL)
		if !limit.IsZero() && exp.After(limit) {
			exp = limit
		}
		return exp, nil
	case limit.IsZero():
		if ttlSeconds == -1 {
			return time.Time{}, nil
		}
		return now.Add(time.Duration(ttlSeconds) * time.Second), nil
	case ttlSeconds == -1:
		return time.Time{}, errs.E(errs.Invalid, "the token you use expires at %s, so it cannot create a token that never expires; give ttl_seconds of at most %d",
			limit.Format(time.RFC3339), max(int64(limit.Sub(now)/time.Second), 0)).In("ttl_seconds")
	}
	exp := now.Add(time.Duration(ttlSeconds) * time.Second)
	if exp.After(limit) {
		return time.Time{}, errs.E(errs.Invalid, "ttl_seconds %d would outlive the token you use, which expires at %s; give at most %d",
			ttlSeconds, limit.Format(time.RFC3339), max(int64(limit.Sub(now)/time.Second), 0)).In("ttl_seconds")
	}
	return exp, nil
}

func (a *API) listTokens(c *call) (int, any, error) {
	if c.principal.IsWorkload() {
		return 0, nil, errWorkloadTokens(c.principal, "list tokens")
	}
	ts, err := a.store.Tokens(c.ctx, c.principal.User)
	if err != nil {
		return 0, nil, err
	}
	out := api.TokenList{Tokens: []api.Token{}}
	for _, t := range ts {
		if sees(c.principal, t) {
			out.Tokens = append(out.Tokens, tokenJSON(t))
		}
	}
	return http.StatusOK, out, nil
}

// sees reports whether p may list and revoke token t of its own user: a token narrowed to
// an org reaches only the tokens narrowed to that org, so a leaked CI token cannot revoke
// its owner's other tokens.
func sees(p authn.Principal, t store.Token) bool {
	if p.IsWorkload() {
		return t.ID == p.TokenID // a workload may revoke the token it acts with, nothing else
	}
	return t.User != "" && t.User == p.User && (p.TokenOrg == "" || t.Org == p.TokenOrg)
}

func (a *API) revokeToken(c *call) (int, any, error) {
	id := c.r.PathValue("id")
	c.record.Target = "token:" + id
	t, err := a.store.Token(c.ctx, id)
	if err == nil && a.authz.Superuser(c.principal) != nil && (t.User != c.principal.User || !sees(c.principal, t)) {
		err = errs.E(errs.NotFound, "token %q not found", id) // others' tokens are not revealed
	}
	if err != nil {
		return 0, nil, err
	}
	c.record.Org = t.Org
	if err := a.store.RevokeToken(c.ctx, id, a.now().UTC()); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) putCredsKey(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	c.record.Target = "creds-key:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if err := checkName("creds key", name); err != nil {
		return 0, nil, errs.InField(err, "name")
	}
	var req api.PutCredsKeyRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	// An update keeps the external ID unless the provider changes, and keeps the secret
	// only while it still belongs to the same identity at the same endpoints (compared in
	// canonical form, so that leaving out a default changes nothing).
	var prev *api.CredsKeyConfig
	var secret []byte
	if old, err := a.store.CredsKey(c.ctx, org, name); err == nil && old.Provider == req.Provider {
		key, err := provider.Decode(old)
		if err != nil {
			return 0, nil, err
		}
		prev, secret = &key.Config, old.Secret
	} else if err != nil && !errs.Is(errs.NotFound, err) {
		return 0, nil, err
	}
	if req.Secret != "" {
		if a.secrets == nil {
			return 0, nil, errs.E(errs.Unavailable, "this server has no master key to encrypt secrets with")
		}
		secret = a.secrets.Seal([]byte(req.Secret), vend.SecretContext(org, name))
	}
	check := provider.ConfigCheck{Org: org, Superuser: a.authz.Superuser(c.principal) == nil, HasSecret: len(secret) > 0, Prev: prev}
	if a.issuer != nil {
		check.Issuer = a.issuer.URL()
	}
	if req.Secret != "" {
		check.Secret = []byte(req.Secret)
	}
	cfg, err := a.vendor.CheckConfig(c.ctx, req.Provider, req.Config, check)
	if err != nil {
		return 0, nil, err
	}
	if req.Secret == "" && len(secret) > 0 && !sameSecretHolder(cfg, prev) {
		// The stored secret stays with what it was given for: check again without it.
		secret, check.HasSecret = nil, false
		if cfg, err = a.vendor.CheckConfig(c.ctx, req.Provider, req.Config, check); err != nil {
			return 0, nil, err
		}
	}
	return a.saveCredsKey(c, store.CredsKey{Org: org, Name: name, Provider: req.Provider, Config: cfg, Secret: secret})
}

// sameSecretHolder reports whether a creds key's secret would serve the same identity at
// the same endpoints under its canonical configuration (as CheckConfig encodes it) as under
// prev: the fields that say whom a secret
// authenticates (an access key ID, an auth mode, an app registration, an account, a
// service account) and where it, or what it buys, is sent. An update that changes any of
// them must send the secret again, so that it cannot redirect a secret it never knew.
func sameSecretHolder(canonical []byte, prev *api.CredsKeyConfig) bool {
	var a api.CredsKeyConfig
	if json.Unmarshal(canonical, &a) != nil {
		return false
	}
	b := *prev
	return a.Source == b.Source && a.AccessKeyID == b.AccessKeyID && a.STSEndpoint == b.STSEndpoint && a.S3Endpoint == b.S3Endpoint &&
		a.Auth == b.Auth && a.TenantID == b.TenantID && a.ClientID == b.ClientID && a.Account == b.Account && a.Endpoint == b.Endpoint &&
		a.ServiceAccount == b.ServiceAccount && a.IAMEndpoint == b.IAMEndpoint && a.StorageEndpoint == b.StorageEndpoint
}

// saveCredsKey stores k, drops credentials cached for its previous versions and answers it.
func (a *API) saveCredsKey(c *call, k store.CredsKey) (int, any, error) {
	k.CreatedAt, k.UpdatedAt = a.now().UTC(), a.now().UTC()
	k, err := a.store.PutCredsKey(c.ctx, k)
	if err != nil {
		return 0, nil, err
	}
	a.vend.Forget(k.Org, k.Name)
	c.record.KeyID = audit.KeyID(k)
	return http.StatusOK, credsKeyJSON(k), nil
}

func (a *API) rotateExternalID(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	c.record.Target = "creds-key:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	k, err := a.store.CredsKey(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	key, err := provider.Decode(k)
	if err != nil {
		return 0, nil, err
	}
	if key.Config.ExternalID == "" {
		return 0, nil, errs.E(errs.Invalid, "creds key %s/%s (provider %s) has no external ID", org, name, k.Provider)
	}
	key.Config.ExternalID = provider.NewExternalID()
	if k.Config, err = json.Marshal(key.Config); err != nil {
		return 0, nil, err
	}
	return a.saveCredsKey(c, k)
}

func (a *API) listCredsKeys(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Reader); err != nil {
		return 0, nil, err
	}
	ks, err := a.store.CredsKeys(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	out := api.CredsKeyList{CredsKeys: []api.CredsKey{}}
	for _, k := range ks {
		out.CredsKeys = append(out.CredsKeys, credsKeyJSON(k))
	}
	return http.StatusOK, out, nil
}

func (a *API) getCredsKey(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Reader); err != nil {
		return 0, nil, err
	}
	k, err := a.store.CredsKey(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, credsKeyJSON(k), nil
}

func (a *API) deleteCredsKey(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	c.record.Target = "creds-key:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if err := a.store.DeleteCredsKey(c.ctx, org, name); err != nil {
		return 0, nil, err
	}
	a.vend.Forget(org, name)
	return http.StatusNoContent, nil, nil
}

func (a *API) verifyCredsKey(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	c.record.Target = "creds-key:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	var req api.VerifyRequest
	if err := decode(c, &req, true); err != nil {
		return 0, nil, err
	}
	var loc location.Location
	if req.Location != "" {
		var err error
		if loc, err = vend.ParseLocation(req.Location); err != nil {
			return 0, nil, errs.InField(err, "location")
		}
	}
	sk, key, err := a.vend.Key(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	c.record.KeyID = audit.KeyID(sk)
	checks, err := a.vendor.Verify(c.ctx, sk.Provider, key, loc)
	if err != nil {
		if !loc.IsZero() && (errs.Is(errs.Invalid, err) || errs.Is(errs.Permission, err)) {
			err = errs.InField(err, "location") // the location is not one the key may vend for
		}
		return 0, nil, err
	}
	return http.StatusOK, api.VerifyResponse{Checks: checks}, nil
}

func (a *API) provision(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("key")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	var req api.ProvisionRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	sk, key, err := a.vend.Key(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	out, err := a.vendor.Provision(c.ctx, sk.Provider, key, req)
	return http.StatusOK, out, err
}

func (a *API) vendLocation(c *call) (int, any, error) {
	var req api.CredentialsRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	creds, err := a.vend.Location(c.ctx, c.principal, c.r.PathValue("org"), c.r.PathValue("key"), req.Location, req.Mode, req.RefusedAccessKeyID)
	return http.StatusOK, creds, err
}

func (a *API) setDefaultStorage(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	var req api.DefaultStorage
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	loc, err := vend.ParseLocation(req.Location)
	if err != nil {
		return 0, nil, errs.InField(err, "location")
	}
	c.record.Target = loc.String()
	if _, err := a.keyAllowing(c, org, req.CredsKey, loc); err != nil {
		field := "location" // the key may not vend for it
		if errs.Is(errs.NotFound, err) {
			field = "creds_key"
		}
		return 0, nil, errs.InField(err, field)
	}
	if err := a.store.SetDefaultStorage(c.ctx, org, loc.String(), req.CredsKey); err != nil {
		return 0, nil, err
	}
	o, err := a.store.Org(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, orgJSON(o), nil
}

// keyAllowing returns creds key org/name after checking that it may vend for loc: loc lies
// within its roots, also with symbolic links resolved (provider.Vendor.CheckLocation).
func (a *API) keyAllowing(c *call, org, name string, loc location.Location) (store.CredsKey, error) {
	if name == "" {
		return store.CredsKey{}, errs.E(errs.Invalid, "a creds key is needed: pass creds_key (--creds-key)").In("creds_key")
	}
	sk, err := a.store.CredsKey(c.ctx, org, name)
	if err != nil {
		return sk, err
	}
	key, err := provider.Decode(sk)
	if err != nil {
		return sk, err
	}
	c.record.KeyID = audit.KeyID(sk)
	return sk, a.vendor.CheckLocation(sk.Provider, key, loc)
}

func (a *API) createDataset(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Writer); err != nil {
		return 0, nil, err
	}
	var req api.CreateDatasetRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	c.record.Target = "al://" + org + "/" + req.Name
	if err := checkName("dataset", req.Name); err != nil {
		return 0, nil, errs.InField(err, "name")
	}
	if req.Public {
		c.auditNote = visibility(true)
		if err := a.needPublishing(c, org); err != nil {
			return 0, nil, err
		}
	}
	var loc location.Location
	var err error
	if req.Location == "" {
		o, err := a.store.Org(c.ctx, org)
		if err != nil {
			return 0, nil, err
		}
		if o.DefaultLocation == "" {
			return 0, nil, errs.E(errs.Invalid, "org %q has no default storage: set one with \"tarn storage set-default\", or register an existing location with \"tarn ds connect\"", org).In("location")
		}
		base, err := location.ParseStorage(o.DefaultLocation)
		if err == nil {
			loc, err = base.Join(req.Name)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("default storage of org %s: %w", org, err)
		}
		if req.CredsKey == "" {
			req.CredsKey = o.DefaultCredsKey
		}
	} else if loc, err = vend.ParseLocation(req.Location); err != nil {
		return 0, nil, errs.InField(err, "location")
	}
	c.record.Detail = loc.String()
	if _, err := a.keyAllowing(c, org, req.CredsKey, loc); err != nil {
		field := "creds_key"
		if e, ok := errors.AsType[*errs.Error](err); ok && e.Code == api.CodeInvalidLocation {
			field = "location" // outside the key's locations
		}
		return 0, nil, errs.InField(err, field)
	}
	d := store.Dataset{Org: org, Name: req.Name, Location: loc.String(), CredsKey: req.CredsKey,
		Public: req.Public, CreatedAt: a.now().UTC(), CreatedBy: c.principal.Name()}
	if err := a.store.CreateDataset(c.ctx, d); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, datasetJSON(d), nil
}

// needPublishing returns nil if the caller may change whether datasets of org are public:
// anyone signed in can read a public one, so it takes an org admin, not a writer who may
// later be removed.
func (a *API) needPublishing(c *call, org string) error {
	role, err := a.authz.Role(c.ctx, c.principal, org)
	switch {
	case err != nil:
		return err
	case role.AtLeast(store.Admin):
		return nil
	case role.Valid():
		return errs.E(errs.Permission, "making a dataset public or private needs role admin in org %q; you are %s", org, role)
	}
	return a.authz.Org(c.ctx, c.principal, org, store.Admin)
}

func (a *API) listDatasets(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Reader); err != nil {
		return 0, nil, err
	}
	ds, err := a.store.Datasets(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	out := api.DatasetList{Datasets: []api.Dataset{}}
	for _, d := range ds {
		out.Datasets = append(out.Datasets, datasetJSON(d))
	}
	return http.StatusOK, out, nil
}

func (a *API) getDataset(c *call) (int, any, error) {
	d, err := vend.LookupDataset(c.ctx, a.store, a.authz, c.principal, c.r.PathValue("org"), c.r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	if err := a.authz.Dataset(c.ctx, c.principal, d, api.ModeRead); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, datasetJSON(d), nil
}

// updateDataset changes a dataset's registry entry: today its visibility, which only org
// admins may change either way.
func (a *API) updateDataset(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	c.record.Target = "al://" + org + "/" + name
	if err := a.needPublishing(c, org); err != nil {
		return 0, nil, err
	}
	var req api.UpdateDatasetRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Public == nil {
		return 0, nil, errs.E(errs.Invalid, "nothing to change: send public (true or false)")
	}
	c.auditNote = visibility(*req.Public)
	if err := a.store.SetDatasetPublic(c.ctx, org, name, *req.Public); err != nil {
		return 0, nil, err
	}
	d, err := a.store.Dataset(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, datasetJSON(d), nil
}

func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}

func (a *API) deleteDataset(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	c.record.Target = "al://" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Writer); err != nil {
		return 0, nil, err
	}
	if err := a.store.DeleteDataset(c.ctx, org, name); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) linkCredsKey(c *call) (int, any, error) {
	org, name, key := c.r.PathValue("org"), c.r.PathValue("name"), c.r.PathValue("key")
	c.record.Target = "al://" + org + "/" + name
	c.record.KeyID = org + "/" + key
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if err := a.store.AddLinkedKey(c.ctx, org, name, key); err != nil {
		return 0, nil, err
	}
	d, err := a.store.Dataset(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, datasetJSON(d), nil
}

func (a *API) vendDataset(c *call) (int, any, error) {
	var req api.DatasetCredentialsRequest
	if err := decode(c, &req, true); err != nil {
		return 0, nil, err
	}
	creds, err := a.vend.Dataset(c.ctx, c.principal, c.r.PathValue("org"), c.r.PathValue("name"), req.Mode, req.RefusedAccessKeyID)
	return http.StatusOK, creds, err
}

// presignDataset answers URLs that read objects of a dataset, signed with a read
// credential vended as for POST .../credentials (same access rule, same cache), and URLs
// of linked objects (presignLinks), audited with the number of paths and links, never a
// URL. gcs URLs are signed by the creds key's driver (signBlob), file URLs by the server
// for its object route (serveObject): path-absolute URLs, resolved against the server's
// URL by the client.
func (a *API) presignDataset(c *call) (int, any, error) {
	var req api.PresignRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	c.auditNote = fmt.Sprintf("%d paths", len(req.Paths))
	if len(req.Links) > 0 {
		c.auditNote += fmt.Sprintf(", %d links through creds key %s", len(req.Links), quoteShort(req.LinkKey))
	}
	// Clamped before the multiplication so that it cannot overflow; presign refuses -1 s.
	expires := time.Duration(min(max(req.ExpiresIn, -1), math.MaxInt64/int64(time.Second))) * time.Second
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	// The record names the dataset, not the location of a link (vends set it to theirs).
	defer func() { audit.Pending(c.ctx).Target = "al://" + org + "/" + name }()
	var res api.PresignResponse
	if len(req.Paths) > 0 || len(req.Links) == 0 {
		if err := presign.Check(req.Paths, expires); err != nil {
			return 0, nil, err
		}
		creds, sign, err := a.vend.DatasetForURLs(c.ctx, c.principal, org, name)
		if err != nil {
			return 0, nil, err
		}
		if creds.File != nil {
			if a.objects == nil {
				return 0, nil, errs.E(errs.Unavailable, "this server has no master key, so it cannot sign URLs of file datasets")
			}
			sign = a.objects.Sign(presign.Dataset{Org: org, Name: name, Location: creds.Location})
		}
		if res.URLs, res.ExpiresAt, err = presign.URLs(c.ctx, creds, req.Paths, presign.Options{Expires: expires, Now: a.now(), Sign: sign}); err != nil {
			return 0, nil, err
		}
	}
	if len(req.Links) > 0 {
		links, exp, err := a.presignLinks(c, org, name, req, expires)
		if err != nil {
			return 0, nil, err
		}
		if res.ExpiresAt.IsZero() || exp.Before(res.ExpiresAt) {
			res.ExpiresAt = exp
		}
		res.Links = links
	}
	if res.URLs == nil {
		res.URLs = map[string]string{}
	}
	return http.StatusOK, res, nil
}

// presignLinks answers a URL for each of req.Links, storage URLs of objects read through
// req.LinkKey, and when the first of them expires. Each link's parent location is vended
// as POST .../linked-credentials vends it (the reader role in the org, the key linked to
// the dataset, the location within the key's roots; one cached vend per parent), and its
// object signed with that credential. A refusal names field "links".
func (a *API) presignLinks(c *call, org, name string, req api.PresignRequest, expires time.Duration) (map[string]string, time.Time, error) {
	if err := presign.CheckExpires(expires); err != nil {
		return nil, time.Time{}, err
	}
	if req.LinkKey == "" {
		return nil, time.Time{}, errs.E(errs.Invalid, "link_key is empty: name the creds key linked to the dataset that reads the links (the link column's link key)").In("link_key")
	}
	groups, err := presign.GroupLinks(req.Links)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := make(map[string]string, len(req.Links))
	var first time.Time
	for _, g := range groups {
		creds, sign, err := a.vend.LinkedForURLs(c.ctx, c.principal, org, name, req.LinkKey, g.Parent.String())
		if err == nil && creds.File != nil {
			err = errs.E(errs.Invalid, "%s: links through a file creds key have no URLs; read them with tarn ds get", g.Parent)
		}
		if err != nil {
			return nil, time.Time{}, errs.InField(err, "links")
		}
		urls, exp, err := presign.URLs(c.ctx, creds, g.Keys, presign.Options{Expires: expires, Now: a.now(), Sign: sign})
		if err != nil {
			return nil, time.Time{}, errs.InField(err, "links")
		}
		for i, k := range g.Keys {
			out[g.Links[i]] = urls[k]
		}
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
	}
	return out, first, nil
}

func (a *API) vendLinked(c *call) (int, any, error) {
	var req api.LinkedCredentialsRequest
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	creds, err := a.vend.Linked(c.ctx, c.principal, c.r.PathValue("org"), c.r.PathValue("name"), req.CredsKey, req.Location)
	return http.StatusOK, creds, err
}

// listAudit answers a page of an org's audit records, newest first by page and oldest first
// within one, filtered by since, until (durations back from now or RFC 3339 times),
// action, principal and result (ok, denied or error); cursor continues where the previous page's next_cursor left off.
func (a *API) listAudit(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	query := c.r.URL.Query()
	q := store.AuditQuery{Org: org, Action: query.Get("action"), Principal: query.Get("principal"),
		Result: query.Get("result"), Limit: api.DefaultAuditLimit}
	switch q.Result {
	case "", audit.OK, audit.Denied, audit.Failed:
	default:
		return 0, nil, errs.E(errs.Invalid, "result %q is not %s, %s or %s", audit.Cap(q.Result, 20),
			audit.OK, audit.Denied, audit.Failed).In("result")
	}
	var err error
	if q.Since, err = a.auditTime("since", query.Get("since")); err != nil {
		return 0, nil, err
	}
	if q.Until, err = a.auditTime("until", query.Get("until")); err != nil {
		return 0, nil, err
	}
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > api.MaxAuditLimit {
			return 0, nil, errs.E(errs.Invalid, "limit %q is not a number from 1 to %d", audit.Cap(s, 20), api.MaxAuditLimit).In("limit")
		}
		q.Limit = n
	}
	if s := query.Get("cursor"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return 0, nil, errs.E(errs.Invalid, "cursor %q is not one this server gave out: pass next_cursor of the previous page", audit.Cap(s, 40)).In("cursor")
		}
		q.BeforeID = id
	}
	limit := q.Limit
	q.Limit++ // one more tells whether an older page exists
	rs, err := a.store.Audit(c.ctx, q)
	if err != nil {
		return 0, nil, err
	}
	out := api.AuditList{Records: []api.AuditRecord{}}
	if len(rs) > limit {
		rs = rs[1:] // oldest first: the extra one is the first
		out.NextCursor = strconv.FormatInt(rs[0].ID, 10)
	}
	for _, r := range rs {
		out.Records = append(out.Records, api.AuditRecord{ID: r.ID, Time: r.Time, RequestID: r.RequestID,
			Principal: r.Principal, Org: r.Org, Action: r.Action, Target: r.Target, Mode: r.Mode,
			Result: r.Result, Detail: r.Detail, KeyID: r.KeyID})
	}
	return http.StatusOK, out, nil
}

// auditTime parses the audit parameter name: a duration back from now (1h, 30m), an RFC
// 3339 time, or "" for none.
func (a *API) auditTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return a.now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, errs.E(errs.Invalid, "%s %q is neither a positive duration (1h, 30m) nor an RFC 3339 time", name, audit.Cap(s, 40)).In(name)
}

func checkName(what, name string) error {
	if err := location.CheckName(what, name); err != nil {
		return errs.Wrap(errs.Invalid, err, err.Error()).WithCode(api.CodeInvalidName)
	}
	return nil
}

func userJSON(u store.User) api.User {
	return api.User{Name: u.Name, Superuser: u.Superuser, CreatedAt: u.CreatedAt}
}

func orgJSON(o store.Org) api.Org {
	out := api.Org{Name: o.Name, CreatedAt: o.CreatedAt}
	if o.DefaultLocation != "" {
		out.DefaultStorage = &api.DefaultStorage{Location: o.DefaultLocation, CredsKey: o.DefaultCredsKey}
	}
	return out
}

func tokenJSON(t store.Token) api.Token {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return api.Token{ID: t.ID, User: t.User, Name: t.Name, Org: t.Org, Role: string(t.Role), CreatedAt: t.CreatedAt,
		ExpiresAt: opt(t.ExpiresAt), LastUsedAt: opt(t.LastUsedAt), RevokedAt: opt(t.RevokedAt)}
}

func credsKeyJSON(k store.CredsKey) api.CredsKey {
	key, _ := provider.Decode(k)
	return api.CredsKey{Org: k.Org, Name: k.Name, Provider: k.Provider, Config: key.Config, HasSecret: len(k.Secret) > 0,
		Version: k.Version, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt}
}

func datasetJSON(d store.Dataset) api.Dataset {
	linked := slices.Clone(d.LinkedKeys)
	if linked == nil {
		linked = []string{}
	}
	return api.Dataset{Org: d.Org, Name: d.Name, Path: "al://" + d.Org + "/" + d.Name, Location: d.Location,
		CredsKey: d.CredsKey, Public: d.Public, LinkedCredsKeys: linked, CreatedAt: d.CreatedAt, CreatedBy: d.CreatedBy}
}
