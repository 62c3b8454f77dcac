// Package authz decides whether a principal may act on an org or a dataset. It denies by
// default: a principal has no role in an org unless a membership (or superuser status) gives
// one, and a token narrowed to an org or role never acts beyond that.
package authz

import (
	"context"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// Authorizer answers access questions from the store's memberships.
type Authorizer struct {
	Store store.Store
}

// Role returns p's effective role in org: the membership role (admin for a superuser),
// lowered to the token's role and emptied when the token is narrowed to another org.
// A workload identity's role is its token's role in its token's org, and none elsewhere.
// It returns "" when p has no role there.
func (a *Authorizer) Role(ctx context.Context, p authn.Principal, org string) (store.Role, error) {
	if p.Identity != "" {
		if p.TokenOrg == "" || p.TokenOrg != org || !p.TokenRole.Valid() {
			return "", nil
		}
		return p.TokenRole, nil
	}
	if p.User == "" || p.TokenOrg != "" && p.TokenOrg != org {
		return "", nil
	}
	role := store.Admin
	if !p.Superuser {
		var err error
		if role, err = a.member(ctx, p, org); err != nil || role == "" {
			return "", err
		}
	}
	if p.TokenRole.Valid() && p.TokenRole.Rank() < role.Rank() {
		role = p.TokenRole
	}
	return role, nil
}

// Orgs returns the orgs p has a role in, ordered by name, each with p's effective role
// (Role) there: a user's memberships (narrowed as Role narrows them), or a workload
// identity's one org. Orgs a superuser reaches without a membership are not listed.
func (a *Authorizer) Orgs(ctx context.Context, p authn.Principal) ([]store.Member, error) {
	if p.Identity != "" {
		return []store.Member{{Org: p.TokenOrg, Role: p.TokenRole}}, nil
	}
	ms, err := a.Store.Memberships(ctx, p.User)
	if err != nil {
		return nil, err
	}
	out := []store.Member{}
	for _, m := range ms {
		role, err := a.Role(ctx, p, m.Org)
		if err != nil {
			return nil, err
		}
		if role.Valid() {
			out = append(out, store.Member{Org: m.Org, User: m.User, Role: role})
		}
	}
	return out, nil
}

// member returns p's membership role in org ("" for none): the one read with p's token
// when p was authenticated for org, else the store's.
func (a *Authorizer) member(ctx context.Context, p authn.Principal, org string) (store.Role, error) {
	if p.In.Org == org {
		return p.In.MemberRole, nil
	}
	m, err := a.Store.Member(ctx, org, p.User)
	if errs.Is(errs.NotFound, err) {
		return "", nil
	}
	return m.Role, err
}

// OrgExists returns nil if org exists and an error of kind NotFound if not: what was read
// with p's token when p was authenticated for org, else the store's answer.
func (a *Authorizer) OrgExists(ctx context.Context, p authn.Principal, org string) error {
	if p.In.Org != org {
		_, err := a.Store.Org(ctx, org)
		return err
	}
	if !p.In.Exists {
		return errs.E(errs.NotFound, "org %q not found", org)
	}
	return nil
}

// Admit returns nil if p may reach org at all: a superuser (not narrowed to an org) when
// org exists, an error of kind NotFound if not; anyone else with a role in org, and an
// error of kind Permission otherwise, the same whether or not org exists.
func (a *Authorizer) Admit(ctx context.Context, p authn.Principal, org string) error {
	if a.Superuser(p) == nil {
		return a.OrgExists(ctx, p, org)
	}
	return a.Org(ctx, p, org, store.Reader)
}

// Org returns nil if p has at least role need in org, and an error of kind Permission
// naming what is missing otherwise.
func (a *Authorizer) Org(ctx context.Context, p authn.Principal, org string, need store.Role) error {
	role, err := a.Role(ctx, p, org)
	if err != nil {
		return err
	}
	if role.AtLeast(need) {
		return nil
	}
	return denied(p, org, role, need)
}

// Dataset returns nil if p may use dataset d in mode (api.ModeRead or api.ModeWrite):
// read needs reader in d's org, or d being public (for any signed-in user whose token is
// not narrowed to another org); write needs writer.
func (a *Authorizer) Dataset(ctx context.Context, p authn.Principal, d store.Dataset, mode string) error {
	need := store.Reader
	if mode == api.ModeWrite {
		need = store.Writer
	} else if d.Public && (p.User != "" || p.Identity != "") && (p.TokenOrg == "" || p.TokenOrg == d.Org) {
		return nil
	}
	role, err := a.Role(ctx, p, d.Org)
	if err != nil {
		return err
	}
	if role.AtLeast(need) {
		return nil
	}
	if role.Valid() && p.Identity != "" {
		return errs.E(errs.Permission, "%s access to al://%s/%s needs role %s; workload identity %s is %s: an org admin can register it again with role %s",
			mode, d.Org, d.Name, need, p.Identity, role, need)
	}
	if role.Valid() {
		return errs.E(errs.Permission, "%s access to al://%s/%s needs role %s; you are %s in org %q: ask an org admin for %s (tarn org member add %s %s --role %s)",
			mode, d.Org, d.Name, need, role, d.Org, need, d.Org, p.User, need)
	}
	return denied(p, d.Org, role, need)
}

// Superuser returns nil if p is a superuser acting through a token that is not narrowed to an org.
func (a *Authorizer) Superuser(p authn.Principal) error {
	if p.Superuser && p.TokenOrg == "" {
		return nil
	}
	return errs.E(errs.Permission, "only a superuser may do this")
}

func denied(p authn.Principal, org string, role, need store.Role) error {
	switch {
	case p.TokenOrg != "" && p.TokenOrg != org:
		return errs.E(errs.Permission, "this token is limited to org %q and cannot act in org %q", p.TokenOrg, org)
	case !role.Valid() && p.Identity != "":
		return errs.E(errs.Permission, "workload identity %s has no role in org %q", p.Identity, org)
	case !role.Valid():
		return errs.E(errs.Permission, "you are not a member of org %q: ask an org admin to add you", org)
	case p.TokenRole.Valid() && p.TokenRole == role:
		return errs.E(errs.Permission, "this needs role %s in org %q; this token is limited to %s", need, org, role)
	}
	return errs.E(errs.Permission, "this needs role %s in org %q; you are %s", need, org, role)
}
