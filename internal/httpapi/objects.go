package httpapi

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/location"
)

// objectsPattern is the route through which the server serves the objects of file
// datasets, by URLs that presignDataset signed (presign.Objects). It is outside the JSON
// pipeline and exempt from Authorization by design: the signed URL is its own
// authorization, as a store's presigned URL is, and a browser's <img> sends no header.
const objectsPattern = "GET " + api.Prefix + "/orgs/{org}/datasets/{name}/objects/{path...}"

// objectsPreflight is the same route for the CORS preflights of browsers that read objects
// with ranges from another origin (a page of the dataset's owner, say): it answers every
// one, for any origin, as the GETs do. It reveals nothing: a preflight carries no URL
// signature, and its answer is the same for every path.
const objectsPreflight = "OPTIONS " + api.Prefix + "/orgs/{org}/datasets/{name}/objects/{path...}"

// preflightObject answers a CORS preflight of the object route: GET and HEAD, with the
// Range header, from any origin, cached an hour.
func preflightObject(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD")
	h.Set("Access-Control-Allow-Headers", "Range")
	h.Set("Access-Control-Max-Age", "3600")
	h.Set("Allow", "GET, HEAD, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
}

// Results of serving an object, the label of tarn_object_reads_total.
const (
	objectOK      = "ok"
	objectDenied  = "denied"  // bad signature, expired, or the dataset moved
	objectMissing = "missing" // no such regular file in the dataset
	objectFailed  = "error"
)

// serveObject serves one object of a file dataset: it checks the URL's signature and
// expiry at the API's clock, then that the dataset's directory still lies inside its creds
// key's roots (symbolic links resolved), and opens the object in an os.Root of that
// directory, which refuses ".." and symbolic links that lead out of it. It serves regular
// files only, with Range support (http.ServeContent), an ETag, Cache-Control: private, and a
// sandboxing Content-Security-Policy so that an HTML or SVG file of a dataset cannot run
// script as the console's origin. Serving is not a vend: the presign that minted the URL was
// audited, so reads are only counted, by result.
func (a *API) serveObject(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Cache-Control", "private")
	// The URL carries its authorization and no cookie is needed: any page may read it.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Length, Accept-Ranges, Last-Modified")
	f, info, err := a.openObject(r)
	result := objectOK
	switch {
	case errs.Is(errs.Permission, err):
		result = objectDenied
	case errs.Is(errs.NotFound, err):
		result = objectMissing
	case err != nil:
		result = objectFailed
	}
	a.metrics.objectReads.WithLabelValues(result).Inc()
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		if result == objectFailed {
			a.log.Error("object not served", "request_id", id, "err", err)
		}
		writeProblem(w, problem(err, id))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// The ETag of the file's size and modification time, as a store's ETag changes with its
	// object, lets a reader check that its ranges are of one version (If-Range).
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, info.Size(), info.ModTime().UnixNano()))
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

// openObject returns the file that r's signed URL names, open, and its FileInfo.
func (a *API) openObject(r *http.Request) (*os.File, fs.FileInfo, error) {
	ctx := r.Context()
	org, name, object := r.PathValue("org"), r.PathValue("name"), r.PathValue("path")
	invalid := errs.E(errs.Permission, "this URL is not valid")
	if a.objects == nil {
		return nil, nil, errs.E(errs.Unavailable, "this server has no master key, so it serves no object URLs")
	}
	d, err := a.store.Dataset(ctx, org, name)
	if errs.Is(errs.NotFound, err) {
		return nil, nil, invalid // a deleted dataset's URLs are as invalid as forged ones
	} else if err != nil {
		return nil, nil, err
	}
	loc, err := location.ParseStorage(d.Location)
	if err != nil || loc.Scheme != location.File {
		return nil, nil, invalid // moved to a store: its objects have URLs of their own
	}
	q := r.URL.Query()
	if err := a.objects.Check(presign.Dataset{Org: org, Name: name, Location: loc.String()}, object, q.Get("expires"), q.Get("sig"), a.now()); err != nil {
		return nil, nil, err
	}
	if presign.CheckPath(object) != nil {
		return nil, nil, invalid // never signed: presign checks paths first
	}
	sk, key, err := a.vend.Key(ctx, org, d.CredsKey)
	if err != nil {
		return nil, nil, err
	}
	if err := a.vendor.CheckLocation(sk.Provider, key, loc); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(loc.FilePath())
	if err != nil {
		return nil, nil, errs.Wrap(errs.NotFound, err, "no such object: "+object)
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(object))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, errs.Wrap(errs.NotFound, err, "no such object: "+object)
		}
		// A path that leaves the root (through a symbolic link) or cannot be read.
		return nil, nil, errs.Wrap(errs.Permission, err, "object "+object+" cannot be served")
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, errs.E(errs.NotFound, "no such object: %s (only regular files are served)", object)
	}
	return f, info, nil
}
