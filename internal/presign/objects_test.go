package presign_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/presign"
)

var objectsNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// parts returns the object key (unescaped), expires and sig of an object URL.
func parts(t testing.TB, raw string) (object, expires, sig string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, object, _ = strings.Cut(u.Path, "/objects/")
	return object, u.Query().Get("expires"), u.Query().Get("sig")
}

// TestObjectURLsAreBoundToEveryField: a URL checks only for the dataset (org, name and
// location), object and expiry it was signed for, under the key that signed it, and only
// before it expires; a forged one is refused without saying why.
func TestObjectURLsAreBoundToEveryField(t *testing.T) {
	o := presign.NewObjects([]byte("k1"))
	d := presign.Dataset{Org: "acme", Name: "imgs", Location: "file:///srv/acme/imgs"}
	u := o.URL(d, "a b/c.png", objectsNow.Add(time.Minute))
	if want := api.Prefix + "/orgs/acme/datasets/imgs/objects/a%20b/c.png?expires="; !strings.HasPrefix(u, want) {
		t.Fatalf("URL %s, want it to begin %s", u, want)
	}
	object, exp, sig := parts(t, u)
	if err := o.Check(d, object, exp, sig, objectsNow); err != nil {
		t.Fatalf("the URL as signed: %v", err)
	}
	later := fmt.Sprint(objectsNow.Add(time.Hour).Unix())
	for name, check := range map[string]func() error{
		"another org":      func() error { e := d; e.Org = "evil"; return o.Check(e, object, exp, sig, objectsNow) },
		"another dataset":  func() error { e := d; e.Name = "other"; return o.Check(e, object, exp, sig, objectsNow) },
		"another location": func() error { e := d; e.Location += "2"; return o.Check(e, object, exp, sig, objectsNow) },
		"another object":   func() error { return o.Check(d, "a b/d.png", exp, sig, objectsNow) },
		"a later expiry":   func() error { return o.Check(d, object, later, sig, objectsNow) },
		"no signature":     func() error { return o.Check(d, object, exp, "", objectsNow) },
		"another key":      func() error { return presign.NewObjects([]byte("k2")).Check(d, object, exp, sig, objectsNow) },
		"fields shifted": func() error {
			e := presign.Dataset{Org: "acme", Name: "imgs", Location: "file:///srv/acme/imgs\",\"a b"}
			return o.Check(e, "c.png", exp, sig, objectsNow)
		},
	} {
		err := check()
		if !errs.Is(errs.Permission, err) || errs.DetailOf(err) != "this URL is not valid" {
			t.Errorf("%s: %v, want the Permission error that says nothing more", name, err)
		}
	}
	err := o.Check(d, object, exp, sig, objectsNow.Add(time.Minute))
	if want := "URL expired at 2026-01-02T03:05:05Z; ask for a new one"; !errs.Is(errs.Permission, err) || errs.DetailOf(err) != want {
		t.Errorf("at expiry: %v, want %q", err, want)
	}
}

func TestObjectsSignBoundsEachURL(t *testing.T) {
	o := presign.NewObjects([]byte("k"))
	d := presign.Dataset{Org: "acme", Name: "imgs", Location: "file:///srv/acme/imgs"}
	c := &api.Credentials{Provider: "file", Location: d.Location, ExpiresAt: objectsNow.Add(time.Hour), File: &api.FileCredentials{Path: "/srv/acme/imgs"}}
	urls, exp, err := presign.URLs(context.Background(), c, []string{"a", "b/c"}, presign.Options{Expires: 2 * time.Hour, Now: objectsNow, Sign: o.Sign(d)})
	if err != nil || !exp.Equal(c.ExpiresAt) || len(urls) != 2 {
		t.Fatalf("URLs = %v, %s, %v; want 2, expiring with the credential at %s", urls, exp, err, c.ExpiresAt)
	}
	for p, u := range urls {
		object, e, sig := parts(t, u)
		if object != p || e != fmt.Sprint(c.ExpiresAt.Unix()) || o.Check(d, object, e, sig, objectsNow) != nil {
			t.Errorf("URL of %s: %s", p, u)
		}
	}
}

// FuzzObjectsCheck: Check never panics and accepts only the tuple that was signed.
func FuzzObjectsCheck(f *testing.F) {
	o := presign.NewObjects([]byte("k"))
	d := presign.Dataset{Org: "acme", Name: "imgs", Location: "file:///srv/acme/imgs"}
	exp := objectsNow.Add(time.Minute)
	object, e, sig := parts(f, o.URL(d, "a.png", exp))
	f.Add(object, e, sig)
	f.Add("a.png", "99999999999", sig)
	f.Add("a.png", "-1", "")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, object, expires, sig string) {
		err := o.Check(d, object, expires, sig, objectsNow)
		if err == nil && (object != "a.png" || expires != e) {
			t.Fatalf("Check accepted %q %q %q", object, expires, sig)
		}
	})
}

func ExampleObjects() {
	o := presign.NewObjects([]byte("a key derived for object URLs only"))
	d := presign.Dataset{Org: "acme", Name: "imgs", Location: "file:///srv/acme/imgs"}
	u := o.URL(d, "cat.png", time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	fmt.Println(u[:strings.Index(u, "&sig=")])
	// Output: /api/v1/orgs/acme/datasets/imgs/objects/cat.png?expires=1767322800
}
