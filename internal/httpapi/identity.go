package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// Audit actions of workload identities.
const (
	ActIdentityPut    = "identity.put"
	ActIdentityDelete = "identity.delete"
	ActTokenExchange  = "token.exchange"
)

// DefaultWorkloadTokenTTL is the lifetime of a token minted by token exchange.
const DefaultWorkloadTokenTTL = time.Hour

// identityConfig is the stored match configuration of a workload identity (store.Identity.Config).
type identityConfig struct {
	DisplayName    string            `json:"display_name,omitempty"`
	TenantID       string            `json:"tenant_id,omitempty"`
	ClientID       string            `json:"client_id,omitempty"`
	Repository     string            `json:"repository,omitempty"`
	RepositoryID   string            `json:"repository_id,omitempty"`
	OwnerID        string            `json:"owner_id,omitempty"`
	Ref            string            `json:"ref,omitempty"`
	Environment    string            `json:"environment,omitempty"`
	Issuer         string            `json:"issuer,omitempty"`
	ServiceAccount string            `json:"service_account,omitempty"`
	Subject        string            `json:"subject,omitempty"`
	Claims         map[string]string `json:"claims,omitempty"`
}

func configOf(req api.Identity) identityConfig {
	return identityConfig{DisplayName: req.DisplayName, TenantID: req.TenantID, ClientID: req.ClientID, Repository: req.Repository,
		RepositoryID: req.RepositoryID, OwnerID: req.OwnerID, Ref: req.Ref,
		Environment: req.Environment, Issuer: req.Issuer, ServiceAccount: req.ServiceAccount, Subject: req.Subject, Claims: req.Claims}
}

// ruleOf builds the match rule of a workload identity. It returns an error of kind Invalid
// naming the field that is missing, malformed or does not apply to the provider.
func ruleOf(provider string, c identityConfig) (oidc.Matcher, error) {
	set := map[string]bool{
		"tenant_id": c.TenantID != "", "client_id": c.ClientID != "", "repository": c.Repository != "",
		"repository_id": c.RepositoryID != "", "owner_id": c.OwnerID != "", "ref": c.Ref != "", "environment": c.Environment != "", "issuer": c.Issuer != "",
		"service_account": c.ServiceAccount != "", "subject": c.Subject != "", "claims": len(c.Claims) > 0,
	}
	allow := func(fields ...string) error {
		for _, f := range []string{"tenant_id", "client_id", "repository", "repository_id", "owner_id", "ref", "environment", "issuer", "service_account", "subject", "claims"} {
			if set[f] && !slices.Contains(fields, f) {
				return errs.E(errs.Invalid, "%s does not apply to provider %s", f, provider).In(f)
			}
		}
		return nil
	}
	need := func(field, v string) error {
		if strings.TrimSpace(v) == "" {
			return errs.E(errs.Invalid, "provider %s needs %s", provider, field).In(field)
		}
		if len(v) > 500 || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return errs.E(errs.Invalid, "%s must be at most 500 printable characters", field).In(field)
		}
		return nil
	}
	var m oidc.Matcher
	var err error
	switch provider {
	case api.IdentityAzure:
		if err = allow("tenant_id", "client_id"); err == nil {
			err = errors.Join(need("tenant_id", c.TenantID), need("client_id", c.ClientID))
		}
		r := oidc.AzureRule{TenantID: c.TenantID, ClientID: c.ClientID}
		if err == nil && slices.ContainsFunc(r.Issuers(), func(s string) bool { return !strings.HasPrefix(s, "https://") }) {
			err = errs.E(errs.Invalid, "tenant_id %q is not an Entra ID tenant ID (a GUID)", c.TenantID).In("tenant_id")
		}
		m = r
	case api.IdentityGitHub:
		if err = allow("repository", "repository_id", "owner_id", "ref", "environment"); err == nil {
			err = need("repository", c.Repository)
		}
		if owner, repo, ok := strings.Cut(c.Repository, "/"); err == nil && (!ok || owner == "" || repo == "" || strings.Contains(repo, "/")) {
			err = errs.E(errs.Invalid, "repository %q is not owner/repo", c.Repository).In("repository")
		}
		for _, id := range []struct{ field, v string }{{"repository_id", c.RepositoryID}, {"owner_id", c.OwnerID}} {
			if err == nil && id.v != "" && !numericID(id.v) {
				err = errs.E(errs.Invalid, "%s %q is not a GitHub ID (digits, as in the token's repository_id and repository_owner_id claims)", id.field, id.v).In(id.field)
			}
		}
		m = oidc.GitHubRule{Repository: c.Repository, RepositoryID: c.RepositoryID, OwnerID: c.OwnerID, Ref: c.Ref, Environment: c.Environment}
	case api.IdentityKubernetes:
		if err = allow("issuer", "service_account"); err == nil {
			err = errors.Join(need("issuer", c.Issuer), need("service_account", c.ServiceAccount))
		}
		ns, name, ok := strings.Cut(c.ServiceAccount, "/")
		if err == nil && (!ok || ns == "" || name == "" || strings.ContainsAny(name, "/:") || strings.Contains(ns, ":")) {
			err = errs.E(errs.Invalid, "service_account %q is not NAMESPACE/NAME", c.ServiceAccount).In("service_account")
		}
		m = oidc.KubernetesRule{Issuer: c.Issuer, Namespace: ns, ServiceAccount: name}
	case api.IdentityOIDC:
		if err = allow("issuer", "subject", "claims"); err == nil {
			err = errors.Join(need("issuer", c.Issuer), need("subject", c.Subject))
		}
		for k, v := range c.Claims {
			if err == nil && (k == "" || len(k) > 100 || len(v) > 500) {
				err = errs.E(errs.Invalid, "claim %q: names are 1 to 100 characters, values at most 500", k).In("claims")
			}
		}
		m = oidc.GenericRule{Issuer: c.Issuer, Subject: c.Subject, Claims: c.Claims}
	default:
		return nil, errs.E(errs.Invalid, "provider %q is not azure, github, kubernetes or oidc", provider).In("provider")
	}
	if err != nil {
		var e *errs.Error
		if !errors.As(err, &e) {
			return nil, errs.Wrap(errs.Invalid, err, err.Error())
		}
		return nil, e
	}
	return m, nil
}

// numericID reports whether s is a GitHub ID: 1 to 20 digits.
func numericID(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// storedRule decodes the rule of a stored identity.
func storedRule(id store.Identity) (oidc.Matcher, error) {
	var c identityConfig
	if err := json.Unmarshal(id.Config, &c); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "")
	}
	return ruleOf(id.Provider, c)
}

func identityJSON(id store.Identity) api.Identity {
	var c identityConfig
	json.Unmarshal(id.Config, &c)
	return api.Identity{Org: id.Org, Name: id.Name, DisplayName: c.DisplayName, Provider: id.Provider, Role: string(id.Role),
		TenantID: c.TenantID, ClientID: c.ClientID, Repository: c.Repository, RepositoryID: c.RepositoryID, OwnerID: c.OwnerID,
		Ref: c.Ref, Environment: c.Environment,
		Issuer: c.Issuer, ServiceAccount: c.ServiceAccount, Subject: c.Subject, Claims: c.Claims,
		CreatedAt: id.CreatedAt, CreatedBy: id.CreatedBy}
}

func (a *API) putIdentity(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	c.record.Target = "identity:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if e, ok := errors.AsType[*errs.Error](checkName("identity", name)); ok {
		return 0, nil, e.In("name")
	}
	var req api.Identity
	if err := decode(c, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Org != "" && req.Org != org || req.Name != "" && req.Name != name {
		return 0, nil, errs.E(errs.Invalid, "the body names identity %s/%s but the path %s/%s", req.Org, req.Name, org, name)
	}
	role := store.Role(req.Role)
	if role != store.Reader && role != store.Writer {
		return 0, nil, errs.E(errs.Invalid, "role %q is not reader or writer: a workload identity cannot be an admin", req.Role).In("role")
	}
	c.record.Mode = req.Role
	if len(req.DisplayName) > 200 || strings.IndexFunc(req.DisplayName, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return 0, nil, errs.E(errs.Invalid, "display_name must be at most 200 printable characters").In("display_name")
	}
	cfg := configOf(req)
	rule, err := ruleOf(req.Provider, cfg)
	if err != nil {
		return 0, nil, err
	}
	if a.verifier == nil {
		return 0, nil, errs.E(errs.Unavailable, "workload identities are not enabled on this server")
	}
	issuers := rule.Issuers()
	c.record.Detail = "provider " + req.Provider + ", issuer " + strings.Join(issuers, " ")
	// Refuse a configuration tarn cannot verify. Azure's v1 issuer (sts.windows.net) is an
	// alias of the tenant's v2.0 issuer: it is trusted, and discovered on its first token.
	for i, iss := range issuers {
		err := a.verifier.Discover(c.ctx, iss)
		if err != nil && req.Provider == api.IdentityAzure && i > 0 {
			a.log.Warn("issuer not discovered now; it will be on its first token", "issuer", iss, "err", err)
			err = a.verifier.Trust(iss)
		}
		if err != nil {
			field := map[string]string{api.IdentityAzure: "tenant_id", api.IdentityKubernetes: "issuer", api.IdentityOIDC: "issuer"}[req.Provider]
			return 0, nil, errs.Wrap(errs.KindOf(err), err, "cannot verify tokens of issuer "+iss+": "+publicDetail(err)).In(field)
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return 0, nil, err
	}
	id := store.Identity{Org: org, Name: name, Provider: req.Provider, Role: role, Issuers: issuers, Config: raw,
		CreatedAt: a.now().UTC(), CreatedBy: c.principal.Name()}
	if err := a.store.PutIdentity(c.ctx, id); err != nil {
		return 0, nil, err
	}
	id.Issuers = slices.Sorted(slices.Values(issuers))
	return http.StatusCreated, identityJSON(id), nil
}

func (a *API) listIdentities(c *call) (int, any, error) {
	org := c.r.PathValue("org")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	ids, err := a.store.Identities(c.ctx, org)
	if err != nil {
		return 0, nil, err
	}
	out := api.IdentityList{Identities: []api.Identity{}}
	for _, id := range ids {
		out.Identities = append(out.Identities, identityJSON(id))
	}
	return http.StatusOK, out, nil
}

func (a *API) getIdentity(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	id, err := a.store.Identity(c.ctx, org, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, identityJSON(id), nil
}

func (a *API) deleteIdentity(c *call) (int, any, error) {
	org, name := c.r.PathValue("org"), c.r.PathValue("name")
	c.record.Target = "identity:" + org + "/" + name
	if err := a.authz.Org(c.ctx, c.principal, org, store.Admin); err != nil {
		return 0, nil, err
	}
	if err := a.store.DeleteIdentity(c.ctx, org, name, a.now().UTC()); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// exchangeToken is OAuth 2.0 Token Exchange (RFC 8693): a workload trades a token its
// platform signed for a short-lived tarn token of the workload identity it matches. It needs
// no tarn credentials. Every attempt is audited with the token's issuer and subject (never
// the token) and the identity it matched.
func (a *API) exchangeToken(c *call) (int, any, error) {
	form, err := readForm(c)
	if err != nil {
		return 0, nil, err
	}
	param := func(name string) (string, error) {
		v := form[name]
		if len(v) > 1 {
			return "", errs.E(errs.Invalid, "parameter %s is given more than once", name)
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var grant, subjectToken, tokenType, scope, requested string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"grant_type", &grant}, {"subject_token", &subjectToken}, {"subject_token_type", &tokenType},
		{"scope", &scope}, {"requested_token_type", &requested}} {
		if *p.dst, err = param(p.name); err != nil {
			return 0, nil, err
		}
	}
	switch {
	case grant != api.GrantTokenExchange:
		return 0, nil, errs.E(errs.Invalid, "grant_type must be %s", api.GrantTokenExchange)
	case tokenType != api.TokenTypeJWT:
		return 0, nil, errs.E(errs.Invalid, "subject_token_type must be %s", api.TokenTypeJWT)
	case subjectToken == "":
		return 0, nil, errs.E(errs.Invalid, "subject_token is missing: send the token your platform signed for audience %s", a.audience())
	case requested != "" && requested != api.TokenTypeAccess:
		return 0, nil, errs.E(errs.Invalid, "requested_token_type must be %s", api.TokenTypeAccess)
	}
	var scopeOrg string
	if scope != "" {
		fields := strings.Fields(scope)
		org, ok := strings.CutPrefix(fields[0], "org:")
		if len(fields) != 1 || !ok || org == "" {
			return 0, nil, errs.E(errs.Invalid, "scope %s is not org:ORG", quoteShort(scope))
		}
		if err := checkName("org", org); err != nil {
			return 0, nil, err
		}
		scopeOrg = org
	}
	iss, sub := peekClaims(subjectToken)
	c.auditNote = "claimed issuer " + quoteShort(iss) + ", subject " + quoteShort(sub)
	if a.verifier == nil {
		return 0, nil, errs.E(errs.Unavailable, "workload identities are not enabled on this server")
	}
	claims, err := a.verifier.Verify(c.ctx, subjectToken)
	if err != nil {
		return 0, nil, err // not authenticated: logged, never in an org's audit
	}
	c.auditNote = "issuer " + quoteShort(claims.Issuer) + ", subject " + quoteShort(claims.Subject)
	ids, err := a.store.IdentitiesByIssuer(c.ctx, claims.Issuer)
	if err != nil {
		return 0, nil, err
	}
	// The identities the token relates to (same repository, tenant, namespace, subject):
	// only their orgs hear of the attempt. A token of a shared issuer related to no
	// identity (any GitHub repository, say) is an anonymous caller's, kept out of every
	// org's audit log.
	var related []relatedIdentity
	for i := range ids {
		if scopeOrg != "" && ids[i].Org != scopeOrg {
			continue
		}
		rule, err := storedRule(ids[i])
		if err != nil {
			a.log.Error("stored identity has a bad rule", "identity", ids[i].Org+"/"+ids[i].Name, "err", err)
			continue
		}
		if rule.Related(claims) {
			related = append(related, relatedIdentity{&ids[i], rule.Match(claims)})
		}
	}
	in := ""
	if scopeOrg != "" {
		in = " in org " + scopeOrg
	}
	refusal := errs.E(errs.Unauthenticated, "the token (issuer %s, subject %s) matches no workload identity registered with tarn%s",
		quoteShort(claims.Issuer), quoteShort(claims.Subject), in)
	if len(related) == 0 {
		return 0, nil, refusal
	}
	c.authenticated = true
	var matches []*store.Identity
	for _, r := range related {
		if r.mismatch == nil {
			matches = append(matches, r.id)
		}
	}
	if len(matches) == 0 {
		// Each org hears why the token did not match its own identities; the answer does
		// not tell the caller what any org registered.
		for _, r := range related {
			c.auditIn(r.id.Org, publicDetail(r.mismatch))
		}
		return 0, nil, refusal
	}
	match := matches[0]
	if slices.ContainsFunc(matches, func(id *store.Identity) bool { return id.Org != match.Org }) {
		// Another org may have registered the same workload: never pick one for the
		// caller, and tell every org involved, without naming the others.
		for _, id := range matches {
			c.auditIn(id.Org, "matches "+id.Org+"/"+id.Name+" and identities of other orgs")
		}
		return 0, nil, errs.E(errs.Invalid, "the token matches workload identities of several orgs; send scope=org:ORG (TARN_SCOPE) to choose one")
	}
	idName := match.Org + "/" + match.Name
	c.record.Org, c.record.Target, c.record.Mode = match.Org, "identity:"+idName, string(match.Role)
	c.record.Principal = "identity:" + idName
	ttl := a.workloadTTL
	secret, t, err := a.mintToken(c, store.Token{Identity: idName, Name: "exchange", Org: match.Org, Role: match.Role,
		ExpiresAt: a.now().UTC().Add(ttl)})
	if err != nil {
		return 0, nil, err
	}
	c.record.Principal = "identity:" + idName + " (" + t.ID + ")"
	return http.StatusOK, api.TokenExchangeResponse{AccessToken: secret, IssuedTokenType: api.TokenTypeAccess,
		TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second)}, nil
}

// relatedIdentity is an identity a verified token relates to, and why the token does not
// match it (nil when it does).
type relatedIdentity struct {
	id       *store.Identity
	mismatch error
}

func (a *API) audience() string {
	if a.verifier == nil {
		return oidc.DefaultAudience
	}
	return a.verifier.Audience()
}

// readForm reads the application/x-www-form-urlencoded body of c: at most MaxBodyBytes.
func readForm(c *call) (url.Values, error) {
	ct := c.r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		return nil, errs.E(errs.Invalid, "send the token exchange as application/x-www-form-urlencoded, not %s", quoteShort(ct))
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, c.r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errs.E(errs.TooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "cannot read request body")
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "request body is not valid form encoding")
	}
	return form, nil
}

// peekClaims returns the iss and sub a JWT claims, unverified, for the audit record only.
func peekClaims(raw string) (iss, sub string) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(raw) > 16<<10 {
		return "", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var c struct {
		Iss any `json:"iss"`
		Sub any `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", ""
	}
	iss, _ = c.Iss.(string)
	sub, _ = c.Sub.(string)
	return iss, sub
}

// quoteShort quotes s for an audit detail, cut to 200 bytes.
func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
