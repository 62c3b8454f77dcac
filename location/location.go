// Package location parses and prints every path tarn accepts: the logical form
// al://ORG/DATASET[/KEY...] and the storage forms s3://bucket/prefix, gs://bucket/prefix
// (alias gcs://), az://account/container/prefix (alias azure://), file:///abs/path and
// mem://name/prefix (alias tmp://).
//
// It is the one parser of the project: every input that can carry a location goes through
// Parse or ParseStorage. It rejects ".." and "." segments, empty segments, control characters,
// backslashes, query strings and fragments, and any other scheme, so a location can never
// point at http://169.254.169.254 or climb out of its prefix.
package location

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Scheme is a canonical location scheme.
type Scheme string

// The canonical schemes. Aliases (gcs, azure, tmp) parse to these.
const (
	AL   Scheme = "al"
	S3   Scheme = "s3"
	GS   Scheme = "gs"
	AZ   Scheme = "az"
	File Scheme = "file"
	Mem  Scheme = "mem"
)

var aliases = map[string]Scheme{
	"al": AL, "s3": S3, "gs": GS, "gcs": GS, "az": AZ, "azure": AZ,
	"file": File, "mem": Mem, "tmp": Mem,
}

// MaxLen is the longest location accepted, in bytes.
const MaxLen = 2048

// Location is a parsed path. The zero value is not a valid location.
type Location struct {
	Scheme Scheme
	// Bucket is the bucket (s3, gs) or scratch name (mem).
	Bucket string
	// Account and Container name an Azure storage account and container (az).
	Account, Container string
	// Org and Dataset name a registered dataset (al).
	Org, Dataset string
	// Path is the key prefix below the authority: segments joined by "/", with no leading or
	// trailing slash; empty for the root. For file it is the absolute path without its
	// leading slash.
	Path string
}

// Error is a parse error. Its message names the input and what is wrong with it.
type Error struct {
	// Input is the input with any query string, fragment and user information cut out, so
	// that a pasted presigned or SAS URL never carries its signature into an error or a log.
	Input  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid location %q: %s", printable(e.Input), e.Reason)
}

// newError returns an *Error for input s with its secrets redacted.
func newError(s, reason string) *Error { return &Error{Input: redact(s), Reason: reason} }

// redact replaces what follows the first "?" or "#" of s, and the user information of its
// authority (user:password@), with "…".
func redact(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i+1] + "…"
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		auth, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			start := len(s) - len(rest)
			s = s[:start] + "…" + s[start+at:]
		}
	}
	return s
}

func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Parse parses any location, logical or storage.
func Parse(s string) (Location, error) {
	fail := func(format string, args ...any) (Location, error) {
		return Location{}, newError(s, fmt.Sprintf(format, args...))
	}
	if len(s) > MaxLen {
		return fail("longer than %d bytes", MaxLen)
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fail("contains a control character")
		}
	}
	if strings.ContainsAny(s, `\?#`) {
		return fail(`contains a backslash, "?" or "#"`)
	}
	name, rest, ok := strings.Cut(s, "://")
	if !ok {
		return fail("no scheme; use al://ORG/DATASET, s3://, gs://, az://, file:/// or mem://")
	}
	scheme, ok := aliases[name]
	if !ok {
		return fail("unsupported scheme %q; use al, s3, gs, az, file or mem", name)
	}
	l := Location{Scheme: scheme}
	if scheme == File {
		if !strings.HasPrefix(rest, "/") {
			return fail("a file location needs an absolute path with an empty host: file:///abs/path")
		}
		p, err := cleanPath(strings.TrimPrefix(rest, "/"))
		if err != nil {
			return fail("%s", err)
		}
		l.Path = p
		return l, nil
	}
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, "/")
	}
	need, what := 1, "a bucket"
	switch scheme {
	case AL:
		need, what = 2, "an org and a dataset: al://ORG/DATASET"
	case AZ:
		need, what = 2, "an account and a container: az://ACCOUNT/CONTAINER"
	case Mem:
		what = "a name: mem://NAME"
	}
	if len(segs) < need || segs[need-1] == "" {
		return fail("needs %s", what)
	}
	if strings.Contains(segs[0], "@") {
		// Checked before the names so that their errors never echo a password.
		return fail("user information (user:password@) is not allowed in a location")
	}
	var err error
	switch scheme {
	case AL:
		if err = CheckName("org", segs[0]); err == nil {
			err = CheckName("dataset", segs[1])
		}
		l.Org, l.Dataset = segs[0], segs[1]
	case AZ:
		if err = checkAccount(segs[0]); err == nil {
			err = checkContainer(segs[1])
		}
		l.Account, l.Container = segs[0], segs[1]
	case S3, GS:
		err = checkBucket(segs[0], scheme)
		l.Bucket = segs[0]
	case Mem:
		err = CheckName("scratch name", segs[0])
		l.Bucket = segs[0]
	}
	if err != nil {
		return fail("%s", err)
	}
	if l.Path, err = cleanPath(strings.Join(segs[need:], "/")); err != nil {
		return fail("%s", err)
	}
	return l, nil
}

// ParseStorage parses a storage location (s3, gs, az, file, mem); al:// paths are refused.
func ParseStorage(s string) (Location, error) {
	l, err := Parse(s)
	if err != nil {
		return l, err
	}
	if l.Scheme == AL {
		return Location{}, newError(s, "a storage location is needed here (s3://, gs://, az://, file:///), not an al:// path")
	}
	return l, nil
}

// FromLocal turns a plain local path (relative or absolute) into a file location. Relative
// paths are resolved against the working directory, and "." and ".." in a plain path are
// resolved lexically, as filepath.Abs does: the path is the caller's own. A path that already
// has a scheme is parsed with Parse, which refuses them. Use Parse or ParseStorage, never
// FromLocal, for a location that comes from someone else.
func FromLocal(p string) (Location, error) {
	if strings.Contains(p, "://") {
		return Parse(p)
	}
	if p == "" {
		return Location{}, newError(p, "empty path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return Location{}, newError(p, err.Error())
	}
	return Parse("file://" + filepath.ToSlash(abs))
}

// cleanPath validates a key prefix. It accepts an empty prefix and strips one trailing slash;
// a lone "/" is an empty segment (as in s3://bucket//) and is refused.
func cleanPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", fmt.Errorf("empty path segment")
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("empty path segment")
		case ".", "..":
			return "", fmt.Errorf("%q path segments are not allowed", seg)
		}
	}
	return p, nil
}

// CheckName validates a name of an org, user, dataset or creds key against
// [a-z0-9][a-z0-9_-]{0,62}. what names the thing in the error.
func CheckName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	if len(s) > 63 {
		return fmt.Errorf("%s name %q is longer than 63 characters", what, printable(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lowerDigit := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lowerDigit && (i == 0 || c != '-' && c != '_') {
			return fmt.Errorf("%s name %q must match [a-z0-9][a-z0-9_-]{0,62}", what, printable(s))
		}
	}
	return nil
}

func checkBucket(b string, scheme Scheme) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", printable(b))
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' && scheme == GS
		if !ok {
			return fmt.Errorf("bucket name %q may hold only lowercase letters, digits, '.' and '-'", printable(b))
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", printable(b))
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q may not hold two adjacent periods", printable(b))
	}
	if isIPv4(b) {
		return fmt.Errorf("bucket name %q may not be formatted as an IP address", printable(b))
	}
	return nil
}

// isIPv4 reports whether s is four dot-separated groups of digits, the form S3 and GCS
// refuse as a bucket name (leading zeros included, so 010.0.0.1 counts too).
func isIPv4(s string) bool {
	groups := strings.Split(s, ".")
	if len(groups) != 4 {
		return false
	}
	for _, g := range groups {
		if g == "" || strings.Trim(g, "0123456789") != "" {
			return false
		}
	}
	return true
}

func checkAccount(a string) error {
	if len(a) < 3 || len(a) > 24 {
		return fmt.Errorf("storage account name %q must be 3 to 24 characters", printable(a))
	}
	for i := 0; i < len(a); i++ {
		if !isAlnum(a[i]) {
			return fmt.Errorf("storage account name %q may hold only lowercase letters and digits", printable(a))
		}
	}
	return nil
}

func checkContainer(c string) error {
	if len(c) < 3 || len(c) > 63 {
		return fmt.Errorf("container name %q must be 3 to 63 characters", printable(c))
	}
	for i := 0; i < len(c); i++ {
		if !isAlnum(c[i]) && c[i] != '-' {
			return fmt.Errorf("container name %q may hold only lowercase letters, digits and '-'", printable(c))
		}
	}
	if !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) || strings.Contains(c, "--") {
		return fmt.Errorf("container name %q must start and end with a letter or digit", printable(c))
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// String returns the canonical form of l; Parse(l.String()) returns l.
func (l Location) String() string {
	var b strings.Builder
	b.WriteString(string(l.Scheme))
	b.WriteString("://")
	switch l.Scheme {
	case File:
		b.WriteString("/")
		b.WriteString(l.Path)
		return b.String()
	case AL:
		b.WriteString(l.Org + "/" + l.Dataset)
	case AZ:
		b.WriteString(l.Account + "/" + l.Container)
	default:
		b.WriteString(l.Bucket)
	}
	if l.Path != "" {
		b.WriteString("/")
		b.WriteString(l.Path)
	}
	return b.String()
}

// IsZero reports whether l is the zero Location.
func (l Location) IsZero() bool { return l.Scheme == "" }

// FilePath returns the local file-system path of a file location.
func (l Location) FilePath() string { return filepath.FromSlash("/" + l.Path) }

// Root returns l without its path: the dataset of an al:// path, the bucket or container of a
// storage location, "/" for file.
func (l Location) Root() Location {
	l.Path = ""
	return l
}

// sameRoot reports whether l and o share scheme and authority.
func (l Location) sameRoot(o Location) bool { return l.Root() == o.Root() }

// Within reports whether l is root or lies below it. Containment is by whole path segments:
// s3://b/ds-ab is not within s3://b/ds-a.
func (l Location) Within(root Location) bool {
	if !l.sameRoot(root) {
		return false
	}
	return root.Path == "" || l.Path == root.Path || strings.HasPrefix(l.Path, root.Path+"/")
}

// Join returns l with key appended below its path. key is validated like a path: it may not
// hold empty, "." or ".." segments or control characters.
func (l Location) Join(key string) (Location, error) {
	if key == "" {
		return l, nil
	}
	s := l.String()
	if !strings.HasSuffix(s, "/") { // only file:/// ends in a slash
		s += "/"
	}
	return Parse(s + key)
}

// Rel returns the key of l below root, or "" when l is root. ok is false when l is not within root.
func (l Location) Rel(root Location) (key string, ok bool) {
	if !l.Within(root) {
		return "", false
	}
	if root.Path == "" {
		return l.Path, true
	}
	return strings.TrimPrefix(strings.TrimPrefix(l.Path, root.Path), "/"), true
}

// Split returns the parent of l and the last segment of its path. For a location with an
// empty path it returns l and "".
func (l Location) Split() (dir Location, name string) {
	i := strings.LastIndex(l.Path, "/")
	dir = l
	dir.Path, name = l.Path[:max(i, 0)], l.Path[i+1:]
	return dir, name
}
