package presign_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/location"
)

func TestGroupLinks(t *testing.T) {
	groups, err := presign.GroupLinks([]string{"s3://bkt/img/a/1.png", "s3://bkt/img/2.png", "s3://bkt/img/a/3.png", "s3://bkt/img/2.png", "gs://gcs/x.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("%s %v %v", g.Parent, g.Keys, g.Links))
	}
	want := []string{
		"s3://bkt/img/a [1.png 3.png] [s3://bkt/img/a/1.png s3://bkt/img/a/3.png]",
		"s3://bkt/img [2.png] [s3://bkt/img/2.png]",
		"gs://gcs [x.jpg] [gs://gcs/x.jpg]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, bad := range []string{
		"s3://bkt/img/../secret/1.png", "s3://bkt/img/./1.png", "s3://bkt//1.png", "s3://bkt", "https://example.com/1.png",
		"http://example.com/1.png", "file:///etc/passwd", "mem://x/1.png", "al://acme/ds/1.png", "img/1.png", "",
		"s3://bkt/img/1.png\n", `s3://bkt/img\1.png`,
	} {
		_, err := presign.GroupLinks([]string{"s3://bkt/ok.png", bad})
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "links" || !strings.Contains(err.Error(), "links[1]") {
			t.Errorf("GroupLinks(%q): %v, want Invalid in field links naming links[1]", bad, err)
		}
	}
	if _, err := presign.GroupLinks(nil); !errs.Is(errs.Invalid, err) {
		t.Errorf("no links: %v", err)
	}
	if _, err := presign.GroupLinks(make([]string, api.MaxPresignPaths+1)); !errs.Is(errs.Invalid, err) {
		t.Errorf("too many links: %v", err)
	}
}

// FuzzGroupLinks checks that every link GroupLinks accepts is a storage URL of an object
// that location.ParseStorage reads as the group's parent and key, and that the key is
// one CheckPath accepts.
func FuzzGroupLinks(f *testing.F) {
	for _, s := range []string{"s3://bkt/img/1.png", "gs://gcs/a/b/c.jpg", "az://acct/box/x.png", "s3://bkt/../x", "https://h/x", "file:///x", "s3://bkt/a%2F..%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		groups, err := presign.GroupLinks([]string{link})
		if err != nil {
			return
		}
		if len(groups) != 1 || len(groups[0].Keys) != 1 {
			t.Fatalf("GroupLinks(%q) = %v", link, groups)
		}
		g := groups[0]
		if err := presign.CheckPath(g.Keys[0]); err != nil {
			t.Fatalf("GroupLinks(%q) key %q: %v", link, g.Keys[0], err)
		}
		l, err := location.ParseStorage(link)
		if err != nil {
			t.Fatalf("GroupLinks accepted %q, which ParseStorage refuses: %v", link, err)
		}
		if parent, key := l.Split(); parent != g.Parent || key != g.Keys[0] {
			t.Fatalf("GroupLinks(%q) = %s %s, ParseStorage says %s %s", link, g.Parent, g.Keys[0], parent, key)
		}
		if l.Scheme == location.File || l.Scheme == location.Mem || l.Scheme == location.AL {
			t.Fatalf("GroupLinks accepted %q", link)
		}
	})
}
