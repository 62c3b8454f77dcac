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
// <data-dir>/admin.token, and the org local whose default storage is <data-dir>/datasets
// through the file creds key local. Every step is skipped when its result already exists,
// so restarts (and several servers sharing one database) change nothing.
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
	created, err := b.admin(ctx)
	if err != nil {
		return err
	}
	if err := ignoreConflict(b.store.CreateOrg(ctx, store.Org{Name: LocalOrg, CreatedAt: b.now().UTC()})); err != nil {
		return err
	}
	if created {
		if err := b.store.PutMember(ctx, store.Member{Org: LocalOrg, User: AdminUser, Role: store.Admin}); err != nil {
			return err
		}
	}
	if _, err := b.store.CredsKey(ctx, LocalOrg, LocalKey); errs.Is(errs.NotFound, err) {
		root, cfg, err := b.localRoot()
		if err != nil {
			return err
		}
		now := b.now().UTC()
		if _, err := b.store.PutCredsKey(ctx, store.CredsKey{Org: LocalOrg, Name: LocalKey, Provider: localfile.Name,
			Config: cfg, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		org, err := b.store.Org(ctx, LocalOrg)
		if err != nil {
			return err
		}
		if org.DefaultLocation == "" {
			if err := b.store.SetDefaultStorage(ctx, LocalOrg, root.String(), LocalKey); err != nil {
				return err
			}
		}
	} else if err != nil {
		return err
	}
	return nil
}

// localRoot picks the directory of the org local's datasets: <data-dir>/datasets, or
// <first file root>/local when the operator's --file-root leaves the data dir out. It
// creates the directory and returns the creds key configuration for it.
func (b *bootstrapper) localRoot() (location.Location, []byte, error) {
	dirs := []string{filepath.Join(b.dataDir, datasetDir)}
	if len(b.fileRoots) > 0 {
		dirs = append(dirs, filepath.Join(b.fileRoots[0], LocalOrg))
	}
	var lastErr error
	for _, dir := range dirs {
		root, err := location.FromLocal(dir)
		if err != nil {
			return root, nil, err
		}
		cfg, err := b.vendor.CheckConfig(localfile.Name, api.CredsKeyConfig{Roots: []string{root.String()}}, nil, false)
		if err != nil {
			lastErr = err
			continue
		}
		return root, cfg, os.MkdirAll(dir, 0o750)
	}
	return location.Location{}, nil, lastErr
}

// admin creates the superuser and writes its token file. It reports whether it created them.
func (b *bootstrapper) admin(ctx context.Context) (bool, error) {
	if _, err := b.store.User(ctx, AdminUser); err == nil || !errs.Is(errs.NotFound, err) {
		return false, err
	}
	now := b.now().UTC()
	err := b.store.CreateUser(ctx, store.User{Name: AdminUser, Superuser: true, CreatedAt: now})
	if errs.Is(errs.Conflict, err) {
		return false, nil // another server got there first
	}
	if err != nil {
		return false, err
	}
	secret, hash := apitoken.New()
	if err := b.store.CreateToken(ctx, store.Token{ID: apitoken.NewID("tok_"), User: AdminUser, Name: "bootstrap",
		Hash: hash, CreatedAt: now}); err != nil {
		return false, err
	}
	path := filepath.Join(b.dataDir, TokenFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return false, err
	}
	fmt.Fprintf(b.out, "Created the superuser %q; its token is in %s (readable only by you).\n", AdminUser, path)
	fmt.Fprintf(b.out, "Log in with:\n  tarn login --token-stdin < %s\n", path)
	return true, nil
}

func ignoreConflict(err error) error {
	if errs.Is(errs.Conflict, err) {
		return nil
	}
	return err
}
