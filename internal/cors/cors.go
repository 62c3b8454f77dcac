// Package cors checks and sets the CORS rules that let a browser read a dataset straight
// from its bucket: the console's dataset viewer fetches manifests and Parquet files with
// ranged GETs on presigned URLs, which a browser sends only when the bucket allows the
// console's origin.
//
// Check sends what the browser sends (a preflight and a ranged GET) and says what is
// missing; NewRule is the rule that makes it pass; S3, Azure and GCS show and set it on a
// store.
package cors

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// MaxAgeSeconds is how long a browser may cache a preflight answer under the rule NewRule
// makes: an hour.
const MaxAgeSeconds = 3600

// Rule is one CORS rule of a bucket, in the terms S3 uses. An empty list allows nothing.
type Rule struct {
	AllowedOrigins []string `json:"allowed_origins"`
	AllowedMethods []string `json:"allowed_methods"`
	AllowedHeaders []string `json:"allowed_headers"`
	ExposeHeaders  []string `json:"expose_headers"`
	// MaxAgeSeconds is how long a preflight answer may be cached; 0 leaves it to the
	// browser.
	MaxAgeSeconds int `json:"max_age_seconds"`
}

// NewRule returns the rule the dataset viewer needs for origins: GET and HEAD, the Range
// request header (a presigned GET sends no other non-safelisted header), and ETag,
// Content-Range, Content-Length and Accept-Ranges exposed to scripts, cached for
// MaxAgeSeconds.
func NewRule(origins ...string) Rule {
	return Rule{
		AllowedOrigins: slices.Clone(origins),
		AllowedMethods: []string{"GET", "HEAD"},
		AllowedHeaders: []string{"Range"},
		ExposeHeaders:  []string{"ETag", "Content-Range", "Content-Length", "Accept-Ranges"},
		MaxAgeSeconds:  MaxAgeSeconds,
	}
}

// String returns the rule on one line, as Problem and the CLI print it.
func (r Rule) String() string {
	return fmt.Sprintf("AllowedOrigins [%s], AllowedMethods [%s], AllowedHeaders [%s], ExposeHeaders [%s], MaxAgeSeconds %d",
		strings.Join(r.AllowedOrigins, " "), strings.Join(r.AllowedMethods, " "),
		strings.Join(r.AllowedHeaders, " "), strings.Join(r.ExposeHeaders, " "), r.MaxAgeSeconds)
}

// sameButOrigins reports whether r and o differ at most in their origins (names compared
// case-insensitively, in any order).
func (r Rule) sameButOrigins(o Rule) bool {
	return sameSet(r.AllowedMethods, o.AllowedMethods) && sameSet(r.AllowedHeaders, o.AllowedHeaders) &&
		sameSet(r.ExposeHeaders, o.ExposeHeaders) && r.MaxAgeSeconds == o.MaxAgeSeconds
}

func sameSet(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[i] = strings.ToLower(v)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// Merge returns rules with r put first, leaving every other rule as it was, except rules
// made like r (same methods and headers) whose origins are all among r's: those r
// replaces, so that setting the same rule twice leaves one. r goes first because a store
// uses the first rule that matches a request.
func Merge(rules []Rule, r Rule) []Rule {
	out := []Rule{r}
	for _, o := range rules {
		if o.sameButOrigins(r) && subset(o.AllowedOrigins, r.AllowedOrigins) {
			continue
		}
		out = append(out, o)
	}
	return out
}

func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// ParseOrigin returns s as a browser origin, scheme://host[:port] in lower case: http or
// https, a host, and no user, path, query or fragment (a single trailing slash is
// dropped). It is what --origin takes.
func ParseOrigin(s string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("origin %q: %s; give scheme://host[:port], such as https://tarn.example.com", printable(s), why)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", bad("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme is not http or https")
	case u.Host == "" || u.Hostname() == "":
		return "", bad("it names no host")
	case u.User != nil:
		return "", bad("an origin has no user")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "", u.Opaque != "":
		return "", bad("an origin has no path, query or fragment")
	case strings.ContainsAny(u.Host, " \t\r\n,*"):
		return "", bad("the host has a space, comma or wildcard")
	}
	if p := u.Port(); p == "" && strings.HasSuffix(u.Host, ":") {
		return "", bad("the port is empty")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// printable returns s with control characters replaced, cut to 100 bytes.
func printable(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
