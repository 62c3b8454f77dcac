package location

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAcceptsEverySchemeAndAlias(t *testing.T) {
	tests := []struct {
		in        string
		want      Location
		canonical string
	}{
		{"al://acme/coco", Location{Scheme: AL, Org: "acme", Dataset: "coco"}, "al://acme/coco"},
		{"al://acme/coco/", Location{Scheme: AL, Org: "acme", Dataset: "coco"}, "al://acme/coco"},
		{"al://acme-1/coco_2/train/part-0.parquet", Location{Scheme: AL, Org: "acme-1", Dataset: "coco_2", Path: "train/part-0.parquet"}, "al://acme-1/coco_2/train/part-0.parquet"},
		{"s3://my-bucket", Location{Scheme: S3, Bucket: "my-bucket"}, "s3://my-bucket"},
		{"s3://my.bucket.example/a/b", Location{Scheme: S3, Bucket: "my.bucket.example", Path: "a/b"}, "s3://my.bucket.example/a/b"},
		{"s3://bkt/prefix/", Location{Scheme: S3, Bucket: "bkt", Path: "prefix"}, "s3://bkt/prefix"},
		{"s3://bkt/", Location{Scheme: S3, Bucket: "bkt"}, "s3://bkt"},
		{"gs://bkt_1/x", Location{Scheme: GS, Bucket: "bkt_1", Path: "x"}, "gs://bkt_1/x"},
		{"gcs://bkt/x", Location{Scheme: GS, Bucket: "bkt", Path: "x"}, "gs://bkt/x"},
		{"az://acct1/my-cont/x/y", Location{Scheme: AZ, Account: "acct1", Container: "my-cont", Path: "x/y"}, "az://acct1/my-cont/x/y"},
		{"azure://acct1/cont", Location{Scheme: AZ, Account: "acct1", Container: "cont"}, "az://acct1/cont"},
		{"file:///", Location{Scheme: File}, "file:///"},
		{"file:///data/ds", Location{Scheme: File, Path: "data/ds"}, "file:///data/ds"},
		{"file:///data/ds/", Location{Scheme: File, Path: "data/ds"}, "file:///data/ds"},
		{"mem://scratch", Location{Scheme: Mem, Bucket: "scratch"}, "mem://scratch"},
		{"mem://scratch/a/b", Location{Scheme: Mem, Bucket: "scratch", Path: "a/b"}, "mem://scratch/a/b"},
		{"tmp://scratch/a", Location{Scheme: Mem, Bucket: "scratch", Path: "a"}, "mem://scratch/a"},
		// Keys may hold any printable Unicode, spaces, dots inside a segment and "%"
		// (which is never decoded).
		{"s3://bkt/a b/ü/.hidden/..x/x../%2e%2e", Location{Scheme: S3, Bucket: "bkt", Path: "a b/ü/.hidden/..x/x../%2e%2e"}, "s3://bkt/a b/ü/.hidden/..x/x../%2e%2e"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.canonical {
				t.Fatalf("String() = %q, want %q", s, tt.canonical)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("Parse(String()) = %#v, %v; want %#v", again, err, got)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		// Climbing out of a prefix.
		{"dotdot in s3 path", "s3://bkt/a/../c", `".." path segments`},
		{"dotdot at end", "s3://bkt/a/..", `".."`},
		{"dotdot at start of path", "s3://bkt/../x", `".."`},
		{"dot segment", "s3://bkt/a/./c", `"." path segments`},
		{"dot at end", "gs://bkt/a/.", `"."`},
		{"dotdot in file", "file:///a/..", `".."`},
		{"dotdot at file root", "file:///..", `".."`},
		{"dot in file", "file:///./etc", `"."`},
		{"dotdot in al key", "al://acme/coco/../other", `".."`},
		{"dotdot as dataset", "al://acme/../other", "dataset name"},
		{"dotdot as org", "al://../coco", "org name"},
		{"dotdot in az", "az://acct1/cont/x/../../y", `".."`},
		{"dotdot in mem", "mem://x/../y", `".."`},
		{"dotdot as mem name", "mem://../y", "scratch name"},
		{"dotdot as bucket", "s3://../x", "bucket name"},
		// Empty segments.
		{"empty segment", "s3://bkt/a//b", "empty path segment"},
		{"double trailing slash", "s3://bkt/a//", "empty path segment"},
		{"double slash after bucket", "s3://bkt//", "empty path segment"},
		{"double slash after dataset", "al://acme/coco//", "empty path segment"},
		{"double slash after mem name", "mem://x//", "empty path segment"},
		{"four slashes in file", "file:////", "empty path segment"},
		{"file double slash inside", "file:///a//b", "empty path segment"},
		{"file host via four slashes", "file:////host/share", "empty path segment"},
		{"empty org", "al:///coco", "org name is empty"},
		{"empty dataset", "al://acme//x", "needs an org and a dataset"},
		// Missing parts.
		{"al without dataset", "al://acme", "needs an org and a dataset"},
		{"al empty", "al://", "needs an org and a dataset"},
		{"s3 empty", "s3://", "needs a bucket"},
		{"s3 slash only", "s3:///x", "needs a bucket"},
		{"az without container", "az://acct1", "needs an account and a container"},
		{"mem empty", "mem://", "needs a name"},
		{"file empty", "file://", "absolute path"},
		// Control characters and other characters that change meaning elsewhere.
		{"NUL", "s3://bkt/a\x00b", "control character"},
		{"newline", "s3://bkt/a\nb", "control character"},
		{"CR", "al://acme/coco/a\rb", "control character"},
		{"tab", "file:///a\tb", "control character"},
		{"DEL", "s3://bkt/a\x7fb", "control character"},
		{"U+0085 NEL", "s3://bkt/a\u0085b", "control character"},
		{"U+009F", "mem://x/\u009f", "control character"},
		{"control in scheme", "s3\n://bkt", "control character"},
		{"backslash", `s3://bkt/a\b`, "backslash"},
		{"backslash dotdot", `file:///a\..\b`, "backslash"},
		{"query", "s3://bkt/a?x=1", `"?"`},
		{"fragment", "s3://bkt/a#frag", `"#"`},
		// Invalid encodings and sizes.
		{"invalid UTF-8", "s3://bkt/a\xffb", "not valid UTF-8"},
		{"truncated UTF-8", "s3://bkt/a\xc3", "not valid UTF-8"},
		{"overlong encoding of slash", "s3://bkt/a\xc0\xafb", "not valid UTF-8"},
		{"overlong input", "s3://bkt/" + strings.Repeat("a", MaxLen), "longer than 2048 bytes"},
		// Other schemes and no scheme.
		{"http", "http://169.254.169.254/latest/meta-data/", `unsupported scheme "http"`},
		{"https", "https://example.com/x", `unsupported scheme "https"`},
		{"ftp", "ftp://example.com/x", `unsupported scheme "ftp"`},
		{"uppercase scheme", "S3://bkt/x", `unsupported scheme "S3"`},
		{"empty scheme", "://bkt/x", `unsupported scheme ""`},
		{"bare IP", "169.254.169.254", "no scheme"},
		{"bare IP with path", "169.254.169.254/latest", "no scheme"},
		{"scheme-relative", "//host/path", "no scheme"},
		{"relative path", "data/ds", "no scheme"},
		{"absolute path", "/data/ds", "no scheme"},
		{"file one slash", "file:/abs", "no scheme"},
		{"empty", "", "no scheme"},
		{"file with host", "file://host/path", "empty host"},
		{"file localhost", "file://localhost/etc", "empty host"},
		// Names.
		{"uppercase org", "al://Acme/coco", "org name"},
		{"uppercase dataset", "al://acme/Coco", "dataset name"},
		{"org starting with dash", "al://-acme/coco", "org name"},
		{"org starting with underscore", "al://_acme/coco", "org name"},
		{"org with dot", "al://ac.me/coco", "org name"},
		{"org too long", "al://" + strings.Repeat("a", 64) + "/coco", "longer than 63"},
		{"org with userinfo", "al://u:p@acme/coco", "user information"},
		{"uppercase mem name", "mem://Scratch", "scratch name"},
		{"IP bucket", "s3://169.254.169.254/latest", "IP address"},
		{"IP bucket gs", "gs://10.0.0.1", "IP address"},
		{"IP bucket leading zero", "s3://010.000.000.001", "IP address"},
		{"bucket with port", "s3://bkt:9000/x", "bucket name"},
		{"bucket with userinfo", "s3://key:secret@bkt/x", "user information"},
		{"bucket uppercase", "s3://Bucket", "bucket name"},
		{"bucket too short", "s3://ab", "3 to 63"},
		{"bucket too long", "s3://" + strings.Repeat("b", 64), "3 to 63"},
		{"bucket adjacent dots", "s3://a..b", "adjacent periods"},
		{"bucket leading dot", "s3://.abc", "start and end"},
		{"bucket trailing dash", "s3://abc-", "start and end"},
		{"underscore in s3 bucket", "s3://my_bucket", "bucket name"},
		{"az account uppercase", "az://Acct1/cont", "storage account"},
		{"az account dash", "az://ac-ct/cont", "storage account"},
		{"az account too long", "az://" + strings.Repeat("a", 25) + "/cont", "storage account"},
		{"az container double dash", "az://acct1/a--b", "container name"},
		{"az container underscore", "az://acct1/a_b", "container name"},
		{"az container short", "az://acct1/ab", "container name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tt.in, l)
			}
			if !l.IsZero() {
				t.Errorf("Parse(%q) returned %#v with its error, want the zero Location", tt.in, l)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error %T is not *Error", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Parse(%q) = %q, want it to mention %q", tt.in, err, tt.reason)
			}
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "invalid location ") {
				t.Errorf("error %q is not one line starting with \"invalid location \"", err)
			}
		})
	}
}

func TestParseMaxLen(t *testing.T) {
	prefix := "s3://bkt/"
	ok := prefix + strings.Repeat("a", MaxLen-len(prefix))
	if _, err := Parse(ok); err != nil {
		t.Errorf("Parse of exactly %d bytes: %v", MaxLen, err)
	}
	if _, err := Parse(ok + "a"); err == nil {
		t.Errorf("Parse of %d bytes succeeded", MaxLen+1)
	}
}

func TestErrorRedactsSecrets(t *testing.T) {
	tests := []struct{ in, secret string }{
		{"https://acct.blob.core.windows.net/c/x?sv=2024&sig=SECRETSIG", "SECRETSIG"},
		{"az://acct1/cont/x?sig=SECRETSIG", "SECRETSIG"},
		{"s3://bkt/x#SECRETFRAG", "SECRETFRAG"},
		{"s3://AKIAKEY:SECRETKEY@bkt/x", "SECRETKEY"},
		{"https://user:SECRETPW@host/x", "SECRETPW"},
		{"https://user:SECRETPW@host/x?sig=SECRETSIG", "SECRET"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", tt.in)
		}
		if strings.Contains(err.Error(), tt.secret) {
			t.Errorf("Parse(%q) error %q leaks %q", tt.in, err, tt.secret)
		}
		var perr *Error
		if errors.As(err, &perr) && strings.Contains(perr.Input, tt.secret) {
			t.Errorf("Parse(%q) Error.Input %q leaks %q", tt.in, perr.Input, tt.secret)
		}
	}
	// The redacted message still names the path up to the secret.
	_, err := Parse("https://user:pw@host/x?sig=abc")
	if want := `invalid location "https://…@host/x?…"`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

func TestErrorTruncatesLongInput(t *testing.T) {
	_, err := Parse("ftp://" + strings.Repeat("x", 1000))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error for a long input is %d bytes, want it truncated", len(err.Error()))
	}
}

func TestParseStorage(t *testing.T) {
	for _, in := range []string{"s3://bkt/x", "gs://bkt", "gcs://bkt", "az://acct1/cont", "azure://acct1/cont", "file:///x", "mem://x", "tmp://x"} {
		if _, err := ParseStorage(in); err != nil {
			t.Errorf("ParseStorage(%q): %v", in, err)
		}
	}
	for _, in := range []string{"al://acme/coco", "al://acme/coco/x", "http://169.254.169.254/", "s3://bkt/../x", "/abs"} {
		l, err := ParseStorage(in)
		if err == nil {
			t.Errorf("ParseStorage(%q) = %v, want an error", in, l)
		}
	}
	_, err := ParseStorage("al://acme/coco")
	if err == nil || !strings.Contains(err.Error(), "storage location is needed") {
		t.Errorf("ParseStorage(al://) error = %v, want it to ask for a storage location", err)
	}
}

func TestFromLocal(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wdLoc, err := Parse("file://" + filepath.ToSlash(wd))
	if err != nil {
		t.Fatalf("working directory %q is not a valid location: %v", wd, err)
	}
	tests := []struct{ in, want string }{
		{"/data/ds", "file:///data/ds"},
		{"/data/ds/", "file:///data/ds"},
		{"/", "file:///"},
		{"//host/path", "file:///host/path"}, // a plain path: "//" is just "/" on Unix
		{"ds", wdLoc.String() + "/ds"},
		{".", wdLoc.String()},
		{"./a/b", wdLoc.String() + "/a/b"},
		// Dots in a plain local path are the caller's own and resolved lexically.
		{"/data/x/../ds", "file:///data/ds"},
		{"169.254.169.254", wdLoc.String() + "/169.254.169.254"}, // a file named so, not a host
		// With a scheme, FromLocal is Parse.
		{"file:///data/ds", "file:///data/ds"},
		{"s3://bkt/x", "s3://bkt/x"},
		{"tmp://x", "mem://x"},
		{"al://acme/coco", "al://acme/coco"},
	}
	if filepath.Separator != '/' {
		t.Skip("the table assumes Unix paths")
	}
	for _, tt := range tests {
		got, err := FromLocal(tt.in)
		if err != nil {
			t.Errorf("FromLocal(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("FromLocal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{
		"",
		"/data/a\x00b",
		"/data/a\nb",
		"/data/a\\b",
		"/data/a?b",
		"/data/\xff",
		"file:///a/../b", // a scheme means Parse, and Parse refuses ".."
		"file://host/x",
		"http://169.254.169.254/",
		"https://example.com",
		"ftp://example.com",
	} {
		if l, err := FromLocal(in); err == nil {
			t.Errorf("FromLocal(%q) = %q, want an error", in, l)
		}
	}
	if l, _ := FromLocal("/a/b"); l.FilePath() != "/a/b" {
		t.Errorf("FilePath() = %q, want /a/b", l.FilePath())
	}
	if l, _ := FromLocal("/"); l.FilePath() != "/" {
		t.Errorf("FilePath() of root = %q, want /", l.FilePath())
	}
}

func TestCheckName(t *testing.T) {
	valid := []string{"a", "0", "acme", "acme-1", "a_b", "a-", "a_", strings.Repeat("a", 63), "0ab"}
	for _, s := range valid {
		if err := CheckName("org", s); err != nil {
			t.Errorf("CheckName(%q): %v", s, err)
		}
	}
	invalid := []string{"", "Acme", "aB", "-a", "_a", "a.b", "a/b", "a b", "..", ".", "a\x00", "ä", strings.Repeat("a", 64), "a@b", "a:b"}
	for _, s := range invalid {
		err := CheckName("org", s)
		if err == nil {
			t.Errorf("CheckName(%q) succeeded, want an error", s)
			continue
		}
		if !strings.HasPrefix(err.Error(), "org name") {
			t.Errorf("CheckName(%q) = %q, want it to start with the thing named", s, err)
		}
	}
}

func TestStringZeroAndRoot(t *testing.T) {
	var zero Location
	if !zero.IsZero() {
		t.Error("zero Location is not IsZero")
	}
	if _, err := Parse(zero.String()); err == nil {
		t.Error("the zero Location's String parses")
	}
	tests := []struct{ in, root string }{
		{"al://acme/coco/a/b", "al://acme/coco"},
		{"s3://bkt/a/b", "s3://bkt"},
		{"az://acct1/cont/a", "az://acct1/cont"},
		{"file:///a/b", "file:///"},
		{"mem://x/a", "mem://x"},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.in).Root().String(); got != tt.root {
			t.Errorf("Root(%q) = %q, want %q", tt.in, got, tt.root)
		}
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		l, root string
		want    bool
	}{
		{"s3://bkt/ds-a", "s3://bkt/ds-a", true},
		{"s3://bkt/ds-a/x", "s3://bkt/ds-a", true},
		{"s3://bkt/ds-a/x/y", "s3://bkt/ds-a/x", true},
		{"s3://bkt/ds-ab", "s3://bkt/ds-a", false}, // sibling that shares a string prefix
		{"s3://bkt/ds-ab/x", "s3://bkt/ds-a", false},
		{"s3://bkt/ds-a", "s3://bkt/ds-a/x", false}, // parent is not within child
		{"s3://bkt/anything", "s3://bkt", true},
		{"s3://bkt", "s3://bkt", true},
		{"s3://bkt2/ds-a", "s3://bkt/ds-a", false}, // other bucket
		{"s3://bkt-a/x", "s3://bkt", false},
		{"gs://bkt/ds-a", "s3://bkt/ds-a", false}, // other scheme
		{"gcs://bkt/ds-a/x", "gs://bkt/ds-a", true},
		{"az://acct1/cont/x", "az://acct1/cont", true},
		{"az://acct1/cont2/x", "az://acct1/cont", false},
		{"az://acct2/cont/x", "az://acct1/cont", false},
		{"al://acme/coco/x", "al://acme/coco", true},
		{"al://acme/cocoa/x", "al://acme/coco", false},
		{"al://other/coco/x", "al://acme/coco", false},
		{"file:///data/ds/x", "file:///data/ds", true},
		{"file:///data/dsx", "file:///data/ds", false},
		{"file:///anything", "file:///", true},
		{"mem://x/a", "mem://x", true},
		{"tmp://x/a", "mem://x", true},
		{"mem://y/a", "mem://x", false},
	}
	for _, tt := range tests {
		l, root := mustParse(t, tt.l), mustParse(t, tt.root)
		if got := l.Within(root); got != tt.want {
			t.Errorf("%q.Within(%q) = %v, want %v", tt.l, tt.root, got, tt.want)
		}
		key, ok := l.Rel(root)
		if ok != tt.want {
			t.Errorf("%q.Rel(%q) ok = %v, want %v", tt.l, tt.root, ok, tt.want)
		}
		if ok {
			back, err := root.Join(key)
			if err != nil || back != l {
				t.Errorf("%q.Join(Rel) = %q, %v; want %q", tt.root, back, err, tt.l)
			}
		}
	}
}

func TestRel(t *testing.T) {
	tests := []struct{ l, root, key string }{
		{"s3://bkt/ds/a/b", "s3://bkt/ds", "a/b"},
		{"s3://bkt/ds", "s3://bkt/ds", ""},
		{"s3://bkt/ds/a", "s3://bkt", "ds/a"},
		{"file:///data/ds/a", "file:///", "data/ds/a"},
		{"al://acme/coco/train/x", "al://acme/coco", "train/x"},
	}
	for _, tt := range tests {
		key, ok := mustParse(t, tt.l).Rel(mustParse(t, tt.root))
		if !ok || key != tt.key {
			t.Errorf("%q.Rel(%q) = %q, %v; want %q, true", tt.l, tt.root, key, ok, tt.key)
		}
	}
	if key, ok := mustParse(t, "s3://bkt/ds-ab/x").Rel(mustParse(t, "s3://bkt/ds-a")); ok || key != "" {
		t.Errorf("Rel of a sibling = %q, %v; want \"\", false", key, ok)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ base, key, want string }{
		{"s3://bkt/ds", "a/b.parquet", "s3://bkt/ds/a/b.parquet"},
		{"s3://bkt", "a", "s3://bkt/a"},
		{"s3://bkt/ds", "", "s3://bkt/ds"},
		{"s3://bkt/ds", "a/", "s3://bkt/ds/a"},
		{"file:///", "etc", "file:///etc"},
		{"file:///data", "x/y", "file:///data/x/y"},
		{"al://acme/coco", "train/0", "al://acme/coco/train/0"},
		{"az://acct1/cont/p", "q", "az://acct1/cont/p/q"},
		{"mem://x", "k", "mem://x/k"},
		{"s3://bkt/ds", "..x/x..", "s3://bkt/ds/..x/x.."},
	}
	for _, tt := range tests {
		base := mustParse(t, tt.base)
		got, err := base.Join(tt.key)
		if err != nil {
			t.Errorf("%q.Join(%q): %v", tt.base, tt.key, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("%q.Join(%q) = %q, want %q", tt.base, tt.key, got, tt.want)
		}
		if !got.Within(base) {
			t.Errorf("%q.Join(%q) = %q is not within the base", tt.base, tt.key, got)
		}
	}
	bad := []string{
		"..", "../other", "a/../../b", "a/..", ".", "./a", "a/./b",
		"/a", "//a", "a//b", "/",
		"a\x00b", "a\nb", "a\u0085b", `a\b`, `..\..\etc`, "a?b", "a#b", "\xff",
		"x://evil", "http://169.254.169.254/", strings.Repeat("k", MaxLen),
	}
	for _, base := range []string{"s3://bkt/ds", "file:///", "file:///data", "al://acme/coco", "mem://x", "az://acct1/cont"} {
		b := mustParse(t, base)
		for _, key := range bad {
			if got, err := b.Join(key); err == nil {
				t.Errorf("%q.Join(%q) = %q, want an error", base, key, got)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ in, dir, name string }{
		{"s3://bkt/a/b/c", "s3://bkt/a/b", "c"},
		{"s3://bkt/a", "s3://bkt", "a"},
		{"s3://bkt", "s3://bkt", ""},
		{"file:///a", "file:///", "a"},
		{"file:///", "file:///", ""},
		{"al://acme/coco/x/y", "al://acme/coco/x", "y"},
		{"az://acct1/cont/x", "az://acct1/cont", "x"},
	}
	for _, tt := range tests {
		dir, name := mustParse(t, tt.in).Split()
		if dir.String() != tt.dir || name != tt.name {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, dir, name, tt.dir, tt.name)
		}
		if name != "" {
			if back, err := dir.Join(name); err != nil || back.String() != mustParse(t, tt.in).String() {
				t.Errorf("Join(Split(%q)) = %q, %v", tt.in, back, err)
			}
		}
	}
}

func mustParse(t *testing.T, s string) Location {
	t.Helper()
	l, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return l
}
