package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/miniotest"
)

// serveInProcess runs `tarn serve` with args in this process on a free loopback port until
// the test ends, and returns its URL and the admin token.
func serveInProcess(t *testing.T, args ...string) (url, adminToken string) {
	t.Helper()
	dataDir := t.TempDir()
	out, w := io.Pipe()
	te := newTestEnv(t, nil)
	te.stdout = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		defer w.Close()
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "error"}, args...), te.env)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("tarn serve exited with %d: %s", code, te.errOut)
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if url == "" {
		cancel()
		t.Fatalf("tarn serve did not start serving: %s", te.errOut)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return url, strings.TrimSpace(string(tok))
}

// TestServeUpstreamFlagsReachTheBudget starts tarn serve with a budget of one STS call per
// creds key (--upstream-burst 1, --upstream-rate far below one a second) in front of MinIO:
// the first cold vend reaches STS, the second (another prefix, so cold too) is refused with
// 503 and Retry-After naming the rate, and the first one's credentials keep serving from the
// cache. With the default burst of 40 the second vend would succeed.
func TestServeUpstreamFlagsReachTheBudget(t *testing.T) {
	minio := miniotest.Start(t)
	url, admin := serveInProcess(t, "--allow-endpoint", minio.HostPort(), "--upstream-rate", "0.001", "--upstream-burst", "1")
	c, err := client.New(client.Options{Endpoint: url, Token: admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutCredsKey(context.Background(), "local", "minio", minio.CredsKey("s3://"+minio.Bucket)); err != nil {
		t.Fatal(err)
	}
	vend := func(prefix string) (int, string, api.Problem) {
		t.Helper()
		b, _ := json.Marshal(api.CredentialsRequest{Location: "s3://" + minio.Bucket + "/" + prefix, Mode: "read"})
		req, _ := http.NewRequest("POST", url+api.Prefix+"/orgs/local/creds-keys/minio/credentials", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p api.Problem
		json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, resp.Header.Get("Retry-After"), p
	}
	if code, _, p := vend("a"); code != http.StatusOK {
		t.Fatalf("first cold vend: %d %s", code, p.Detail)
	}
	code, retryAfter, p := vend("b")
	if code != http.StatusServiceUnavailable || retryAfter == "" || !strings.Contains(p.Detail, "per second") {
		t.Fatalf("second cold vend with a burst of 1: %d, Retry-After %q, %q; want 503 with Retry-After naming the rate", code, retryAfter, p.Detail)
	}
	if d, err := time.ParseDuration(retryAfter + "s"); err != nil || d < time.Minute {
		t.Errorf("Retry-After %q with a rate of one call in 1000 s: want at least a minute", retryAfter)
	}
	if code, _, p := vend("a"); code != http.StatusOK {
		t.Errorf("cached vend while the budget refuses: %d %s", code, p.Detail)
	}
}
