package azuresas

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Permissions of a SAS by mode: read and list; write adds add, create, write and delete.
const (
	readPermissions  = "rl"
	writePermissions = "racwdl"
)

// signatureValues returns the fields of a SAS for loc and mode vended at now for ttl
// (DefaultTTL when zero): a container SAS for a whole container or a key of scope
// container, else a directory SAS (hierarchical namespace only; see scopable). Times are
// whole seconds, as a SAS carries them.
func signatureValues(cfg api.CredsKeyConfig, loc location.Location, mode string, now time.Time, ttl time.Duration) (sas.BlobSignatureValues, error) {
	if loc.Scheme != location.AZ || loc.Account != cfg.Account {
		return sas.BlobSignatureValues{}, errs.E(errs.Invalid, "provider azure cannot vend for %s: not an az://%s/ location", loc, cfg.Account).WithCode(api.CodeInvalidLocation)
	}
	if err := scopable(cfg, loc); err != nil {
		return sas.BlobSignatureValues{}, err
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	now = now.UTC().Truncate(time.Second)
	v := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-Backdate),
		ExpiryTime:    now.Add(ttl),
		Permissions:   readPermissions,
		ContainerName: loc.Container,
	}
	if mode == api.ModeWrite {
		v.Permissions = writePermissions
	}
	if strings.HasPrefix(cfg.Endpoint, "http://") {
		v.Protocol = sas.ProtocolHTTPSandHTTP // an emulator (see emulatorHost)
	}
	if loc.Path != "" && cfg.HierarchicalNamespace {
		v.Directory = loc.Path
	}
	return v, nil
}

// sign signs v for key: with the account key in mode shared-key, else with the cached user
// delegation key, shortening v's expiry to the key's if that is earlier.
func (d *Driver) sign(ctx context.Context, key provider.Key, v *sas.BlobSignatureValues) (sas.QueryParameters, error) {
	if key.Config.Auth == api.AuthSharedKey {
		cred, err := sharedKey(key)
		if err != nil {
			return sas.QueryParameters{}, err
		}
		qp, err := v.SignWithSharedKey(cred)
		if err != nil {
			return qp, errs.Wrap(errs.Internal, err, "sign a SAS with the account key")
		}
		return qp, nil
	}
	udk, expiry, err := d.keys.get(ctx, key)
	if err != nil {
		return sas.QueryParameters{}, err
	}
	if expiry.Before(v.ExpiryTime) {
		v.ExpiryTime = expiry
	}
	qp, err := v.SignWithUserDelegation(udk)
	if err != nil {
		return qp, errs.Wrap(errs.Internal, err, "sign a SAS with the user delegation key")
	}
	return qp, nil
}

// sharedKey returns the account key credential of a key of mode shared-key.
func sharedKey(key provider.Key) (*sas.SharedKeyCredential, error) {
	bad := errs.E(errs.Invalid, "creds key %s/%s has auth %q but its secret is not an account key (base64); set it again with tarn creds add --secret-stdin",
		key.Org, key.Name, api.AuthSharedKey)
	if _, err := base64.StdEncoding.DecodeString(string(key.Secret)); err != nil || len(key.Secret) == 0 {
		return nil, bad
	}
	cred, err := service.NewSharedKeyCredential(key.Config.Account, string(key.Secret))
	if err != nil {
		return nil, bad
	}
	return cred, nil
}
