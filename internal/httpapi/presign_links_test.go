package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestPresignLinks checks presigned URLs of linked objects from the attacker's side: a
// reader of the org gets working URLs for links below the linked key's roots; an outsider
// of the public dataset, a link outside the key's roots, a key not linked to the dataset,
// ".." in a link and an https:// link are refused in field links; the audit record names
// the dataset and holds no URL.
func TestPresignLinks(t *testing.T) {
	m := miniotest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{m.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // MinIO checks URLs on its own clock
	ctx := context.Background()
	admin := env.Admin(t)
	base := "s3://" + m.Bucket
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CreateOrg(ctx, "acme")
	must(err)
	for key, root := range map[string]string{"store": base + "/ds", "imgs": base + "/img", "unlinked": base + "/img"} {
		_, err = admin.PutCredsKey(ctx, "acme", key, m.CredsKey(root))
		must(err)
	}
	_, err = admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "web", Location: base + "/ds/web", CredsKey: "store", Public: true})
	must(err)
	_, err = admin.AddLinkedCredsKey(ctx, "acme", "web", "imgs")
	must(err)
	objects := map[string]string{"img/a/1.png": "one", "img/2.png": "two", "ds/web/secret.txt": "secret"}
	for k, body := range objects {
		must(m.Put(ctx, k, body))
	}
	reader := env.Client(t, env.NewUser(t, "rita", "acme", "reader"))
	outsider := env.Client(t, env.NewUser(t, "otto", "", ""))

	links := []string{base + "/img/a/1.png", base + "/img/2.png"}
	out, err := reader.PresignLinks(ctx, "acme", "web", "imgs", links, time.Minute)
	must(err)
	for i, l := range links {
		u, ok := out.Links[l]
		if !ok {
			t.Fatalf("no URL for %s: %v", l, out.Links)
		}
		if got := getURL(t, u); got != objects[strings.TrimPrefix(l, base+"/")] {
			t.Errorf("URL of links[%d] read %q", i, got)
		}
	}
	if left := time.Until(out.ExpiresAt); left <= 0 || left > time.Minute+time.Second {
		t.Errorf("expires_at %s, want within a minute", out.ExpiresAt)
	}
	if len(out.URLs) != 0 {
		t.Errorf("links only, yet urls %v", out.URLs)
	}

	refused := []struct {
		name   string
		c      *client.Client
		key    string
		link   string
		status int
	}{
		{"outsider of the public dataset", outsider, "imgs", links[0], 403},
		{"outside the key's roots", reader, "imgs", base + "/ds/web/secret.txt", 403},
		{"key not linked to the dataset", reader, "unlinked", links[0], 403},
		{"dataset's own key, not linked", reader, "store", base + "/ds/web/secret.txt", 403},
		{"dot-dot", reader, "imgs", base + "/img/../ds/web/secret.txt", 400},
		{"https link", reader, "imgs", "https://example.com/1.png", 400},
		{"the key's root itself", reader, "imgs", base + "/img/", 403},
		{"al path", reader, "imgs", "al://acme/web/x", 400},
		{"file link", reader, "imgs", "file:///etc/passwd", 400},
		{"no key", reader, "", links[0], 400},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.c.PresignLinks(ctx, "acme", "web", tc.key, []string{links[1], tc.link}, time.Minute)
			p, ok := errors.AsType[*api.Problem](err)
			if !ok || p.Status != tc.status {
				t.Fatalf("got %v, %v; want %d", out, err, tc.status)
			}
			want := "links"
			if tc.key == "" {
				want = "link_key"
			}
			if p.Field != want {
				t.Errorf("field %q, want %q (%s)", p.Field, want, p.Detail)
			}
		})
	}

	recs, err := admin.Audit(ctx, "acme", client.AuditQuery{Action: "presign"})
	must(err)
	if len(recs.Records) == 0 {
		t.Fatal("no presign audited")
	}
	for _, r := range recs.Records {
		if r.Target != "al://acme/web" {
			t.Errorf("audit target %q, want the dataset", r.Target)
		}
		for _, s := range []string{m.Endpoint, "example.com", "X-Amz", "Signature", "1.png"} {
			if strings.Contains(r.Detail+r.Target, s) {
				t.Errorf("audit record holds %q: %+v", s, r)
			}
		}
	}
}

// getURL returns the body of a GET of u, failing unless it answers 200.
func getURL(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET a presigned URL: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
