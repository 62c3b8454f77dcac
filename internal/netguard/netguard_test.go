package netguard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEndpointsCannotReachMetadataAddresses(t *testing.T) {
	c := Client(time.Minute, true)
	for _, url := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[fe80::1]/",
		"http://0.0.0.0/",
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		_, err := c.Do(req)
		if err == nil || !strings.Contains(err.Error(), "refusing to connect") {
			t.Errorf("%s: %v", url, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:9000", "10.0.0.5:443", "[::1]:9000", "52.216.1.1:443"} {
		if err := Refuse("tcp", addr, nil); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

func TestRedirectsOnlyToHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	c := Client(time.Minute, true)
	c.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	_, err := c.Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("redirect to http followed: %v", err)
	}
}
