package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn/apitoken"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/localfile"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/location"
)

// The names a fresh installation starts with.
const (
	AdminUser  = "admin"
	LocalOrg   = "local"
	LocalKey   = "local"
	TokenFile  = "admin.token"
	datasetDir = "datasets"
)

// bootstrapper makes a fresh installation usable: the superuser admin with its token in
// <data-dir>/admin.token, and the org local whose default storage is <file root>/local
// (<data-dir>/datasets/local by default) through the file creds key local, so that the
// admins of org local reach no other org's directory. Every step is skipped when its result
// already exists, so restarts (and several servers sharing one database) change nothing;
// installations made before org local moved to <file root>/local keep what they had.
type bootstrapper struct {
	store   store.Store
	vendor  *provider.Vendor
	dataDir string
	// fileRoots are the operator's --file-root directories.
	fileRoots []string
	now       func() time.Time
	out       io.Writer
}

func (b *bootstrapper) run(ctx context.Context) error {
	if err := b.admin(ctx); err != nil {
		return err
	}
	err := b.store.CreateOrg(ctx, store.Org{Name: LocalOrg, CreatedAt: b.now().UTC()})
	if errs.Is(errs.Conflict, err) {
		return nil // set up before, by this server or another: leave it as its admins made it
	}
	if err != nil {
		return err
	}
	if err := b.store.PutMember(ctx, store.Member{Org: LocalOrg, User: AdminUser, Role: store.Admin}); err != nil {
		return err
	}
	root, cfg, err := b.localRoot(ctx)
	if err != nil {
		return err
	}
	now := b.now().UTC()
	if _, err := b.store.PutCredsKey(ctx, store.CredsKey{Org: LocalOrg, Name: LocalKey, Provider: localfile.Name,
		Config: cfg, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	return b.store.SetDefaultStorage(ctx, LocalOrg, root.String(), LocalKey)
}

// localRoot picks the directory of the org local's datasets, <first file root>/local. It
// creates the directory and returns the creds key configuration for it.
func (b *bootstrapper) localRoot(ctx context.Context) (location.Location, []byte, error) {
	dir := filepath.Join(b.fileRoots[0], LocalOrg)
	root, err := location.FromLocal(dir)
	if err != nil {
		return root, nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return root, nil, err
	}
	cfg, err := b.vendor.CheckConfig(ctx, localfile.Name, api.CredsKeyConfig{Roots: []string{root.String()}}, provider.ConfigCheck{Org: LocalOrg})
	return root, cfg, err
}

// admin creates the superuser and writes a token of it to <data-dir>/admin.token. When the
// superuser exists but has no usable token and the file is gone (a first start that failed
// half-way), it mints a new token, so the installation never locks its operator out.
func (b *bootstrapper) admin(ctx context.Context) error {
	now := b.now().UTC()
	_, err := b.store.User(ctx, AdminUser)
	switch {
	case errs.Is(errs.NotFound, err):
		err = b.store.CreateUser(ctx, store.User{Name: AdminUser, Superuser: true, CreatedAt: now})
		if errs.Is(errs.Conflict, err) {
			return nil // another server got there first
		}
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if usable, err := b.hasUsableToken(ctx, now); usable || err != nil {
			return err
		}
	}
	secret, hash := apitoken.New()
	if err := b.store.CreateToken(ctx, store.Token{ID: apitoken.NewID("tok_"), User: AdminUser, Name: "bootstrap",
		Hash: hash, CreatedAt: now}); err != nil {
		return err
	}
	path := filepath.Join(b.dataDir, TokenFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return err
	}
	fmt.Fprintf(b.out, "The superuser %q's token is in %s (readable only by you).\n", AdminUser, path)
	fmt.Fprintf(b.out, "Log in with:\n  tarn login --token-stdin < %s\n", path)
	return nil
}

// hasUsableToken reports whether the superuser can still log in: admin.token exists, or
// the superuser has a token that is neither revoked nor expired.
func (b *bootstrapper) hasUsableToken(ctx context.Context, now time.Time) (bool, error) {
	if _, err := os.Stat(filepath.Join(b.dataDir, TokenFile)); err == nil {
		return true, nil
	}
	ts, err := b.store.Tokens(ctx, AdminUser)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) {
			return true, nil
		}
	}
	return false, nil
}
