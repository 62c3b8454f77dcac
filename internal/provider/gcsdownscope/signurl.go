package gcsdownscope

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// MaxSignedURLLifetime is the longest lifetime of a V4 signed URL.
const MaxSignedURLLifetime = 7 * 24 * time.Hour

// SignURL returns a V4 signed URL (GOOG4-RSA-SHA256, query signing, path style) that GETs
// the object key below loc, valid from now for expires, signed through IAM Credentials
// signBlob of key's service account with a source token of the key's auth mode (the
// identity that impersonates it, which roles/iam.serviceAccountTokenCreator also lets sign).
//
// Such a URL is not bounded by a downscoped token: it reads the one object whose bucket and
// name it signs, with all the rights of the service account. So SignURL signs only a key
// below loc (no empty, "." or ".." segment), and what bounds a URL is the caller's check that
// loc is the location it vended; an edited URL fails Cloud Storage's signature check.
// It returns an error of kind Invalid for a location that is not gs://, a bad key or a
// lifetime out of 1 s to 7 days, of kind Permission when the source identity may not sign
// for the account, and else as Vend does; errors never carry a token or a signature.
func (d *Driver) SignURL(ctx context.Context, key provider.Key, loc location.Location, object string, now time.Time, expires time.Duration) (string, error) {
	if loc.Scheme != location.GS {
		return "", errs.E(errs.Invalid, "provider gcs signs URLs for gs:// locations, not %s", loc)
	}
	if object == "" || path.Clean("/"+object) != "/"+object || strings.HasSuffix(object, "/") {
		return "", errs.E(errs.Invalid, "%q is not the key of an object below %s", object, loc)
	}
	if expires < time.Second || expires > MaxSignedURLLifetime {
		return "", errs.E(errs.Invalid, "a signed URL lives 1 second to 7 days, not %s", expires)
	}
	if loc.Path != "" {
		object = loc.Path + "/" + object
	}
	scheme, host := "https", "storage.googleapis.com"
	if ep := key.Config.StorageEndpoint; ep != "" {
		u, err := url.Parse(ep)
		if err != nil {
			return "", fmt.Errorf("storage_endpoint %q: %w", ep, err)
		}
		scheme, host = u.Scheme, u.Host
	}
	now = now.UTC()
	date := now.Format("20060102T150405Z")
	scope := now.Format("20060102") + "/auto/storage/goog4_request"
	escaped := escapeV4(loc.Bucket + "/" + object)
	query := url.Values{
		"X-Goog-Algorithm":     {"GOOG4-RSA-SHA256"},
		"X-Goog-Credential":    {key.Config.ServiceAccount + "/" + scope},
		"X-Goog-Date":          {date},
		"X-Goog-Expires":       {fmt.Sprint(int64(expires / time.Second))},
		"X-Goog-SignedHeaders": {"host"},
	}
	canonicalQuery := strings.ReplaceAll(query.Encode(), "+", "%20")
	hostname := host
	if h, _, ok := strings.Cut(host, ":"); ok {
		hostname = h // signed without the port, as the Cloud Storage client libraries do
	}
	canonical := strings.Join([]string{http.MethodGet, "/" + escaped, canonicalQuery, "host:" + hostname, "", "host", "UNSIGNED-PAYLOAD"}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"GOOG4-RSA-SHA256", date, scope, hex.EncodeToString(sum[:])}, "\n")
	sig, err := d.signBlob(ctx, key, []byte(toSign))
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + "/" + escaped + "?" + canonicalQuery + "&X-Goog-Signature=" + hex.EncodeToString(sig), nil
}

// escapeV4 escapes each /-separated segment of p as V4 signing's canonical path does.
func escapeV4(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	}
	return strings.Join(segs, "/")
}

// signBlob signs payload with the Google-managed key of key's service account, through IAM
// Credentials with a source token of the key's auth mode.
func (d *Driver) signBlob(ctx context.Context, key provider.Key, payload []byte) ([]byte, error) {
	cfg := key.Config
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	src, err := d.source(ctx, key)
	if err != nil {
		return nil, err
	}
	var out struct {
		SignedBlob []byte `json:"signedBlob"` // base64, as protobuf's JSON bytes
	}
	if err := d.iam(ctx, key, src, "signBlob", map[string][]byte{"payload": payload}, &out); err != nil {
		var ue *upstreamError
		switch {
		case !errors.As(err, &ue):
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: %s", where, err))
		case ue.retryable():
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: IAM Credentials could not sign for %s (%s); try again later", where, cfg.ServiceAccount, ue))
		case ue.status == http.StatusForbidden:
			return nil, errs.Wrap(errs.Permission, err, fmt.Sprintf("%s: the impersonating identity may not sign for %s (%s): grant it %s on that service account (see tarn provision gcp)", where, cfg.ServiceAccount, ue, RoleTokenCreator))
		}
		return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: IAM Credentials refused to sign for %s (%s)", where, cfg.ServiceAccount, ue))
	}
	if len(out.SignedBlob) == 0 {
		return nil, errs.E(errs.Upstream, "%s: IAM Credentials answered without a signature; is iam_endpoint an IAM Credentials endpoint?", where)
	}
	return out.SignedBlob, nil
}
