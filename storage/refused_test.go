package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

// After S3 refuses a credential, the next vend tells the server which one, so that the
// server does not answer it again from its cache.
func TestRefusedCredentialIsNamedToTheServer(t *testing.T) {
	var mu sync.Mutex
	var refused []string
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.DatasetCredentialsRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		n++
		refused = append(refused, req.RefusedAccessKeyID)
		id := fmt.Sprint("AK", n)
		mu.Unlock()
		json.NewEncoder(w).Encode(api.Credentials{Mode: "read", Provider: "aws", ExpiresAt: time.Now().Add(time.Hour),
			S3: &api.S3Credentials{AccessKeyID: id, SecretAccessKey: "s", SessionToken: "t"}})
	}))
	defer srv.Close()
	c, err := client.New(client.Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(ctx context.Context) (aws.Credentials, error) {
		cr, err := c.DatasetCredentials(ctx, "acme", "coco", "read")
		if err != nil {
			return aws.Credentials{}, err
		}
		return aws.Credentials{AccessKeyID: cr.S3.AccessKeyID, CanExpire: true, Expires: cr.ExpiresAt}, nil
	}
	r := newRefresher(fetch, awsInfo, nil, nil)
	h, err := r.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.invalidate(h, false)
	if _, err := r.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.invalidate(&held[aws.Credentials]{}, false) // not the one in service: changes nothing
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 2 || refused[0] != "" || refused[1] != "AK1" {
		t.Fatalf("vends named refused credentials %q; want none, then AK1", refused)
	}
}

// vendLog is what a vendServer answered: each vend, and the refusal ID its request named.
type vendLog struct {
	mu      sync.Mutex
	vended  []*api.Credentials
	refused []string
}

// vendServer returns a tarn client of a server that answers dataset vends with those of v
// (a Vendor of a test peer) and the log of what it answered. It lets a test see what the
// real client sends: the refusal ID of a credential the store refused.
func vendServer(t *testing.T, v Vendor) (*client.Client, *vendLog) {
	t.Helper()
	log := &vendLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.DatasetCredentialsRequest
		json.NewDecoder(r.Body).Decode(&req)
		c, err := v.DatasetCredentials(r.Context(), "acme", "coco", req.Mode)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		log.mu.Lock()
		log.vended, log.refused = append(log.vended, c), append(log.refused, req.RefusedAccessKeyID)
		log.mu.Unlock()
		json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}
