package gcsdownscope_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
)

// TestSignURLReadsOneObject: a URL signed through signBlob of the key's service account
// reads its object from fake-gcs-server with a plain GET; it verifies with that account's
// public key over a canonical request that covers the object's path, for exactly the
// lifetime asked, from the injected clock; it carries no token; and an edited URL fails.
func TestSignURLReadsOneObject(t *testing.T) {
	s := fakegcstest.Start(t)
	f, key := fakeGCSFixture(t, s)
	ctx := context.Background()
	const object = "coco/img/a b+c.png"
	w := s.Client(t).Bucket(s.Bucket).Object(object).NewWriter(ctx)
	w.Write([]byte("pixels"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	loc := mustLoc(t, "gs://"+s.Bucket+"/coco")
	now := f.clock.Now()
	u, err := f.d.SignURL(ctx, key, loc, "img/a b+c.png", now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "pixels" {
		t.Fatalf("GET of the signed URL: %d %q", resp.StatusCode, body)
	}

	account, bucket, name, err := f.g.VerifySignedURL(u, now)
	if err != nil || account != targetSA || bucket != s.Bucket || name != object {
		t.Fatalf("VerifySignedURL = %s %s %s %v; want %s %s %s", account, bucket, name, err, targetSA, s.Bucket, object)
	}
	q, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
	if q.Get("X-Goog-Expires") != "600" || q.Get("X-Goog-Date") != now.UTC().Format("20060102T150405Z") {
		t.Errorf("X-Goog-Expires %s, X-Goog-Date %s; want 600 and the injected clock's %s", q.Get("X-Goog-Expires"), q.Get("X-Goog-Date"), now.UTC())
	}
	sigs := f.g.Signatures()
	if len(sigs) != 1 || sigs[0].Caller != serverSA || sigs[0].Account != targetSA {
		t.Errorf("signBlob calls %+v; want one by %s for %s", sigs, serverSA, targetSA)
	}
	if strings.Contains(u, "ya29.") || strings.Contains(u, "Bearer") {
		t.Errorf("the URL carries a token: %s", u)
	}

	for what, edited := range map[string]string{
		"another object":  strings.Replace(u, "/img/a%20b%2Bc.png?", "/img/other.png?", 1),
		"another prefix":  strings.Replace(u, "/coco/", "/other/", 1),
		"another bucket":  strings.Replace(u, "/"+s.Bucket+"/", "/other-bucket/", 1),
		"a later expiry":  strings.Replace(u, "X-Goog-Expires=600", "X-Goog-Expires=6000", 1),
		"another account": strings.Replace(u, url.QueryEscape(targetSA), url.QueryEscape(serverSA), 1),
	} {
		if edited == u {
			t.Fatalf("edit to %s changed nothing in %s", what, u)
		}
		if _, _, _, err := f.g.VerifySignedURL(edited, now); err == nil {
			t.Errorf("a URL edited to %s verifies", what)
		}
	}
	if _, _, _, err := f.g.VerifySignedURL(u, now.Add(10*time.Minute)); err == nil {
		t.Error("the URL verifies at its expiry")
	}
	// Signed an hour back on the injected clock: expired now, without waiting.
	old, err := f.d.SignURL(ctx, key, loc, "img/a b+c.png", now.Add(-time.Hour), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.g.VerifySignedURL(old, now); err == nil {
		t.Error("a URL signed an hour ago for 10 minutes verifies now")
	}
}

// TestSignURLMatchesTheSDK: the driver's canonical request is the one cloud.google.com/go/storage
// signs for the same object, time and lifetime (the SDK signs at its own clock, so the
// driver signs at the SDK's X-Goog-Date).
func TestSignURLMatchesTheSDK(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Grant(serverSA, targetSA)
	key := f.key("default", nil)
	key.Config.StorageEndpoint = "http://127.0.0.1:4443"
	var sdkPayload []byte
	sdk, err := storage.SignedURL("acme-data", "ds/img/a b+c.png", &storage.SignedURLOptions{
		GoogleAccessID: targetSA, Scheme: storage.SigningSchemeV4, Method: http.MethodGet, Insecure: true,
		Hostname: "127.0.0.1:4443", Expires: time.Now().Add(600*time.Second + 500*time.Millisecond),
		SignBytes: func(b []byte) ([]byte, error) { sdkPayload = b; return []byte{0xab}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(strings.SplitN(sdk, "?", 2)[1])
	at, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil || q.Get("X-Goog-Expires") != "600" {
		t.Fatalf("SDK URL %s: date %v, expires %s", sdk, err, q.Get("X-Goog-Expires"))
	}
	ours, err := f.d.SignURL(context.Background(), key, mustLoc(t, "gs://acme-data/ds"), "img/a b+c.png", at, 600*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.g.Signatures(); len(got) != 1 || string(got[0].Payload) != string(sdkPayload) {
		t.Errorf("the driver signed\n%s\nthe SDK signs\n%s", got[0].Payload, sdkPayload)
	}
	strip := func(raw string) string { // the URL without its signature, parameters in order
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Del("X-Goog-Signature")
		u.RawQuery = q.Encode()
		return u.String()
	}
	if strip(ours) != strip(sdk) {
		t.Errorf("driver URL %s\nSDK URL    %s", strip(ours), strip(sdk))
	}
}

// TestSignURLRefuses keys outside the location, lifetimes Google refuses and a source
// identity without Token Creator, each before or without a signature.
func TestSignURLRefuses(t *testing.T) {
	f := newFixture(t, nil)
	key := f.key("default", nil)
	loc := mustLoc(t, "gs://acme-data/ds")
	ctx := context.Background()
	for _, object := range []string{"", "../other/x", "a/../../x", "a//b", "a/", "./a", "/a"} {
		if _, err := f.d.SignURL(ctx, key, loc, object, f.clock.Now(), time.Minute); !errs.Is(errs.Invalid, err) {
			t.Errorf("SignURL(%q) = %v, want an Invalid error", object, err)
		}
	}
	for _, d := range []time.Duration{0, 500 * time.Millisecond, gcsdownscope.MaxSignedURLLifetime + time.Second} {
		if _, err := f.d.SignURL(ctx, key, loc, "a", f.clock.Now(), d); !errs.Is(errs.Invalid, err) {
			t.Errorf("SignURL for %s = %v, want an Invalid error", d, err)
		}
	}
	if n := f.g.Calls(googletest.SignBlob); n != 0 {
		t.Errorf("refused keys and lifetimes called signBlob %d times", n)
	}
	_, err := f.d.SignURL(ctx, key, loc, "a", f.clock.Now(), time.Minute)
	if !errs.Is(errs.Permission, err) || !strings.Contains(err.Error(), gcsdownscope.RoleTokenCreator) || strings.Contains(err.Error(), "ya29.") {
		t.Errorf("SignURL without Token Creator = %v, want a Permission error naming %s", err, gcsdownscope.RoleTokenCreator)
	}
}
