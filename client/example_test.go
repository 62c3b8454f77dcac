package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

// fakeTarn stands in for `tarn serve` so that the examples run.
func fakeTarn() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/orgs/acme/datasets/coco/presign":
			io.WriteString(w, `{"urls":{"images/0001.jpg":"https://acme-ml.s3.amazonaws.com/coco/images/0001.jpg?X-Amz-Signature=..."},"expires_at":"2026-01-02T03:19:05Z"}`)
		case "/api/v1/orgs/acme/datasets/web/presign":
			io.WriteString(w, `{"urls":{},"links":{"s3://acme-web/images/1.jpg":"https://acme-web.s3.amazonaws.com/images/1.jpg?X-Amz-Signature=..."},"expires_at":"2026-01-02T03:19:05Z"}`)
		case "/api/v1/whoami":
			io.WriteString(w, `{"user":"alice","superuser":false,"token_id":"tok1","orgs":[{"org":"acme","user":"alice","role":"admin"}]}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"title":"Not Found","status":404,"code":"not_found","detail":"dataset \"coco\" not found in org \"acme\""}`)
		}
	}))
}

func ExampleNew() {
	srv := fakeTarn() // in real use: the URL of your tarn server
	defer srv.Close()

	c, err := client.New(client.Options{Endpoint: srv.URL, Token: "tarn_..."})
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.Whoami(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.User, me.Orgs[0].Org, me.Orgs[0].Role)
	// Output: alice acme admin
}

func ExampleClient_Dataset() {
	srv := fakeTarn()
	defer srv.Close()

	c, err := client.New(client.Options{Endpoint: srv.URL, Token: "tarn_..."})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Dataset(context.Background(), "acme", "coco")
	var p *api.Problem
	if errors.As(err, &p) && p.Code == api.CodeNotFound {
		fmt.Println("not found:", p.Detail)
	}
	// Output: not found: dataset "coco" not found in org "acme"
}

func ExampleClient_PresignDataset() {
	srv := fakeTarn()
	defer srv.Close()

	c, err := client.New(client.Options{Endpoint: srv.URL, Token: "tarn_..."})
	if err != nil {
		log.Fatal(err)
	}
	out, err := c.PresignDataset(context.Background(), "acme", "coco", []string{"images/0001.jpg"}, 15*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.URLs["images/0001.jpg"] != "", out.ExpiresAt.Format(time.RFC3339))
	// Output: true 2026-01-02T03:19:05Z
}

func ExampleClient_PresignLinks() {
	srv := fakeTarn()
	defer srv.Close()

	c, err := client.New(client.Options{Endpoint: srv.URL, Token: "tarn_..."})
	if err != nil {
		log.Fatal(err)
	}
	// A value of a link column of al://acme/web, read through its link key web-images.
	link := "s3://acme-web/images/1.jpg"
	out, err := c.PresignLinks(context.Background(), "acme", "web", "web-images", []string{link}, 15*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Links[link] != "", out.ExpiresAt.Format(time.RFC3339))
	// Output: true 2026-01-02T03:19:05Z
}
