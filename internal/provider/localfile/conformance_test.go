package localfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/providertest"
	"github.com/tarnhq/tarn/location"
)

// TestConformance runs the shared provider suite on the local disk. Provider file hands out
// a path, not a credential, so the checks that a credential is refused outside its prefix
// or mode are skipped (Enforced is false); the Vendor's own refusals are still checked.
func TestConformance(t *testing.T) {
	allowed := t.TempDir()
	d, err := New([]string{allowed})
	if err != nil {
		t.Fatal(err)
	}
	v := provider.New(map[string]provider.Driver{Name: d}, nil)
	root := "file://" + filepath.Join(allowed, "acme")
	if _, err := v.CheckConfig(context.Background(), Name, api.CredsKeyConfig{Roots: []string{root}}, provider.ConfigCheck{Org: "acme"}); err != nil {
		t.Fatal(err)
	}
	base, err := location.Parse(root + "/conf")
	if err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, providertest.Setup{
		Vendor:   v,
		Driver:   d,
		Provider: Name,
		Key:      provider.Key{Org: "acme", Name: "disk", Config: api.CredsKeyConfig{Roots: []string{root}}},
		Base:     base,
		Open:     openVended,
		Seed: func(ctx context.Context, loc location.Location, key string, data []byte) error {
			p := filepath.Join(loc.FilePath(), filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				return err
			}
			return os.WriteFile(p, data, 0o600)
		},
		Enforced: false,
	})
}

// openVended opens loc through the directory that c grants; loc must lie within c's
// location.
func openVended(ctx context.Context, c *api.Credentials, loc location.Location) (*blob.Bucket, error) {
	if c.File == nil {
		return nil, fmt.Errorf("credentials for %s are not file credentials", c.Location)
	}
	granted, err := location.Parse(c.Location)
	if err != nil {
		return nil, err
	}
	rel, ok := loc.Rel(granted)
	if !ok {
		return nil, fmt.Errorf("file credentials for %s cannot open %s", granted, loc)
	}
	return fileblob.OpenBucket(filepath.Join(c.File.Path, filepath.FromSlash(rel)), &fileblob.Options{
		CreateDir: c.Mode == api.ModeWrite,
		Metadata:  fileblob.MetadataDontWrite,
		NoTempDir: true,
	})
}
