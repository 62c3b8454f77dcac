package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/httpapi"
)

// The console does everything through the API: its pages call the Go SDK's client, whose
// requests go straight to the API handler in this process, authenticated as the session's
// token (httpapi.WithSessionToken). So the console and the API share every rule, every
// error and every audit record; the console only turns forms into requests and answers
// into pages.

// inProcessEndpoint is the API endpoint of the console's client. It only fills in the
// requests' URLs: inProcess never dials it.
const inProcessEndpoint = "http://127.0.0.1"

// newAPIClient returns a client of the API handler h that sends no request over a network.
func newAPIClient(h http.Handler) *client.Client {
	cl, err := client.New(client.Options{Endpoint: inProcessEndpoint, HTTPClient: &http.Client{Transport: inProcess{h}},
		UserAgent: "tarn-console"})
	if err != nil {
		panic(err) // a constant endpoint that parses
	}
	return cl
}

// inProcess is an http.RoundTripper that serves each request with an http.Handler.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &response{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(w, r)
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.header,
		Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: r,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// response is the http.ResponseWriter of an in-process request: it keeps the answer in memory.
type response struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
}

func (w *response) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// apiContext returns the context of the API calls made for session s.
func apiContext(r *http.Request, s *session) context.Context {
	return httpapi.WithSessionToken(r.Context(), s.principal.TokenID)
}

// apiError returns err, a failed API call's error, as an errs error of the API's kind,
// code, detail and field (errs.FromProblem), so that pages treat it like their own.
func apiError(err error) error {
	if p, ok := errors.AsType[*api.Problem](err); ok {
		return errs.FromProblem(p)
	}
	return err
}
