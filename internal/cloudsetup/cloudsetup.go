// Package cloudsetup writes the cloud-side setup of azure and gcs creds keys: the az and
// gcloud commands that give the key's identity its roles and set the CORS rule the console
// needs. It only builds strings: nothing is run or sent. tarn provision prints them, and the
// console shows them on a key's page.
package cloudsetup

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/tarnhq/tarn/internal/errs"
)

// consoleOrigin returns the origin (scheme://host[:port]) of the URL s, for a CORS rule.
func consoleOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errs.E(errs.Invalid, "console origin %q is no URL: give --console-origin https://HOST[:PORT]", s).In("console_origin")
	}
	return u.Scheme + "://" + u.Host, nil
}

// nameRule is a name that goes into a shell command, and the pattern it must match: valid
// describes the pattern ("a valid Azure name (...)"), field is the input that gave it. An
// optional name may be empty.
type nameRule struct {
	what, field, value string
	pattern            *regexp.Regexp
	valid              string
	optional           bool
}

// checkNames returns an Invalid error, in the field of the first rule whose value does not
// match its pattern, naming it.
func checkNames(rules ...nameRule) error {
	for _, r := range rules {
		if (r.value != "" || !r.optional) && !r.pattern.MatchString(r.value) {
			return errs.E(errs.Invalid, "%s %q is not %s", r.what, r.value, r.valid).In(r.field)
		}
	}
	return nil
}

// ShellQuote quotes s for a POSIX shell: as it is when it holds only characters that mean
// nothing to a shell, else in single quotes.
func ShellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
