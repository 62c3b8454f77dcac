package presign

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// ObjectsLabel is what a server's object-URL key is derived under from its master key.
const ObjectsLabel = "tarn object URLs v1"

// Objects signs and checks the URLs through which a tarn server serves the objects of
// datasets on its own disk (provider file), which have no URL of their own:
//
//	/api/v1/orgs/ORG/datasets/NAME/objects/KEY?expires=UNIX&sig=MAC
//
// MAC is HMAC-SHA256, under a key every server on one database shares (derived from the
// master key), of the org, the dataset, the dataset's location (so that a dataset deleted
// and created again elsewhere does not inherit URLs), the object's key and the expiry. The
// URL is its own authorization: whoever holds it reads that one object until it expires,
// with no Authorization header, as a browser's <img> does. It is safe for concurrent use.
type Objects struct{ key []byte }

// NewObjects returns Objects signing with key, which must be used for nothing else.
func NewObjects(key []byte) *Objects { return &Objects{key: key} }

// Dataset is what an object URL is bound to besides the object's key.
type Dataset struct{ Org, Name, Location string }

// ObjectsPath returns the path of the URL of object in dataset d (each segment escaped),
// without a query.
func ObjectsPath(d Dataset, object string) string {
	return api.Prefix + "/orgs/" + url.PathEscape(d.Org) + "/datasets/" + url.PathEscape(d.Name) + "/objects/" + escapeKey(object)
}

// URL returns the path-absolute URL, to resolve against the server's URL, that reads
// object of d until expires (whole seconds).
func (o *Objects) URL(d Dataset, object string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"expires": {exp}, "sig": {o.mac(d, object, exp)}}
	return ObjectsPath(d, object) + "?" + q.Encode()
}

// Sign returns a signer for Options.Sign that makes URLs of d's objects.
func (o *Objects) Sign(d Dataset) func(context.Context, []string, time.Time, time.Duration) (map[string]string, error) {
	return func(_ context.Context, paths []string, now time.Time, expires time.Duration) (map[string]string, error) {
		urls := make(map[string]string, len(paths))
		for _, p := range paths {
			urls[p] = o.URL(d, p, now.Add(expires))
		}
		return urls, nil
	}
}

// Check returns nil when sig is the signature of object of d until expires (the URL's
// query parameters as sent) and now is before that expiry. A signature that does not match
// is an error of kind Permission that says nothing more; an expired URL, only once its
// signature matched, is one of kind Permission that says when it expired. object must be a
// key CheckPath accepts: Check does not look at the disk.
func (o *Objects) Check(d Dataset, object, expires, sig string, now time.Time) error {
	if !hmac.Equal([]byte(sig), []byte(o.mac(d, object, expires))) {
		return errs.E(errs.Permission, "this URL is not valid")
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return errs.E(errs.Permission, "this URL is not valid") // never signed: URL writes digits
	}
	if at := time.Unix(exp, 0); !now.Before(at) {
		return errs.E(errs.Permission, "URL expired at %s; ask for a new one", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// mac returns the signature of object of d until expires: HMAC-SHA256 over a JSON array of
// the fields, so that no field's bytes can move into another.
func (o *Objects) mac(d Dataset, object, expires string) string {
	msg, _ := json.Marshal([]string{d.Org, d.Name, d.Location, object, expires})
	h := hmac.New(sha256.New, o.key)
	h.Write(msg)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
