package presign

import (
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/location"
)

// LinkGroup is the links of one parent location: Links[i] names the object Keys[i] below
// Parent.
type LinkGroup struct {
	Parent location.Location
	Keys   []string
	Links  []string
}

// GroupLinks parses links (values of a link column: storage URLs of objects, such as
// s3://bucket/img/1.jpg) with location.ParseStorage and groups them by parent location, in
// the order each parent first appears; a link given twice is kept once. It returns an
// error of kind Invalid, in field "links", for an empty list or one of more than
// api.MaxPresignPaths links, and for a link that does not parse, names no object, is an
// https:// link (tarn checks that those reach public addresses only when it reads them
// itself, which a browser does not), or a file:// or mem:// link (no store with URLs).
func GroupLinks(links []string) ([]LinkGroup, error) {
	if len(links) == 0 {
		return nil, errs.E(errs.Invalid, "links is empty: give the storage URLs of the linked objects").In("links")
	}
	if len(links) > api.MaxPresignPaths {
		return nil, errs.E(errs.Invalid, "links holds %d URLs; ask for at most %d at once", len(links), api.MaxPresignPaths).In("links")
	}
	var groups []LinkGroup
	at := map[string]int{} // parent → index in groups
	seen := map[string]bool{}
	for i, raw := range links {
		if seen[raw] {
			continue
		}
		seen[raw] = true
		parent, key, err := splitLink(raw)
		if err != nil {
			return nil, errs.E(errs.Invalid, "links[%d]: %v", i, err).In("links")
		}
		j, ok := at[parent.String()]
		if !ok {
			j = len(groups)
			at[parent.String()] = j
			groups = append(groups, LinkGroup{Parent: parent})
		}
		groups[j].Keys = append(groups[j].Keys, key)
		groups[j].Links = append(groups[j].Links, raw)
	}
	return groups, nil
}

// splitLink parses one link into its parent location and object name.
func splitLink(raw string) (location.Location, string, error) {
	if scheme, _, ok := strings.Cut(raw, "://"); ok && (strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http")) {
		return location.Location{}, "", fmt.Errorf("%s:// links are not presigned: tarn reads them only from public addresses, which it cannot promise for a browser; open such a link itself", strings.ToLower(scheme))
	}
	l, err := location.ParseStorage(raw)
	if err != nil {
		return l, "", err
	}
	if l.Scheme == location.File || l.Scheme == location.Mem {
		return l, "", fmt.Errorf("%s: %s:// links have no URLs; read them with tarn ds get", l, l.Scheme)
	}
	parent, key := l.Split()
	if key == "" {
		return l, "", fmt.Errorf("%s names no object", l)
	}
	if err := CheckPath(key); err != nil {
		return l, "", fmt.Errorf("%s: %v", l, err)
	}
	return parent, key, nil
}
