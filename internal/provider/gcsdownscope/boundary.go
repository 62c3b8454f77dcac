package gcsdownscope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/location"
)

// Limits of Google STS on a Credential Access Boundary, checked before the call.
const (
	MaxRules   = 10
	MaxOptions = 2048 // characters of the options parameter
)

// The predefined roles a downscoped token is cut down to, by mode: read lists and gets
// objects; write also creates, overwrites and deletes them (commits, ds rm --delete-data).
const (
	RoleRead  = "inRole:roles/storage.objectViewer"
	RoleWrite = "inRole:roles/storage.objectAdmin"
)

// Boundary is a Credential Access Boundary: what a downscoped token may reach.
type Boundary struct {
	Rules []Rule `json:"accessBoundaryRules"`
}

// Rule makes Permissions available on Resource (a bucket), where Condition holds.
type Rule struct {
	Resource    string     `json:"availableResource"`
	Permissions []string   `json:"availablePermissions"`
	Condition   *Condition `json:"availabilityCondition,omitempty"`
}

// Condition is a CEL expression over the object a request names.
type Condition struct {
	Expression string `json:"expression"`
}

// BoundaryFor returns the boundary of a token for loc (gs://) and mode: one rule on loc's
// bucket with the mode's role; below the bucket, a condition that admits the objects under
// loc's prefix and listings of it, with a trailing slash so that prefix coco never admits
// coco-private. A bucket location gets the rule without a condition (the whole bucket).
func BoundaryFor(loc location.Location, mode string) Boundary {
	role := RoleRead
	if mode == api.ModeWrite {
		role = RoleWrite
	}
	r := Rule{Resource: "//storage.googleapis.com/projects/_/buckets/" + loc.Bucket, Permissions: []string{role}}
	if loc.Path != "" {
		prefix := loc.Path + "/"
		r.Condition = &Condition{
			Expression: "resource.name.startsWith(" + celString("projects/_/buckets/"+loc.Bucket+"/objects/"+prefix) + ") || " +
				"api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith(" + celString(prefix) + ")",
		}
	}
	return Boundary{Rules: []Rule{r}}
}

// Options returns the STS options parameter for b, {"accessBoundary": b}. It returns an
// error of kind Invalid when b breaks STS's limits (more than MaxRules rules, options
// longer than MaxOptions characters), so that no call is made that STS would refuse.
func (b Boundary) Options() (string, error) {
	if len(b.Rules) == 0 || len(b.Rules) > MaxRules {
		return "", errs.E(errs.Invalid, "an access boundary takes 1 to %d rules, not %d", MaxRules, len(b.Rules))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Boundary Boundary `json:"accessBoundary"`
	}{b}); err != nil {
		return "", fmt.Errorf("encode access boundary: %w", err)
	}
	opts := strings.TrimSuffix(buf.String(), "\n")
	if len(opts) > MaxOptions {
		return "", errs.E(errs.Invalid, "the access boundary for this location is %d characters long, more than the %d Google STS takes: use a shorter bucket or prefix name",
			len(opts), MaxOptions).WithCode(api.CodeInvalidLocation)
	}
	return opts, nil
}

// celString returns s as a single-quoted CEL string literal: backslashes and quotes are
// escaped, and so is every character below U+0020 or U+007F, so that no name can end the
// literal or change the expression.
func celString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
