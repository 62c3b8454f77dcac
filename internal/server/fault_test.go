package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/server"
)

// load sends requests to a set of servers from several clients until stopped, and counts
// the answers of each server since the last reset.
type load struct {
	token string
	urls  []string
	http  *http.Client

	mu     sync.Mutex
	counts []map[string]int // per server: "200", "503", ...; "503 without Retry-After", "error: ..."
	bad    []string         // answers that are neither 200 nor 503 with Retry-After
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(token string, urls []string, clients int) *load {
	l := &load{token: token, urls: urls, http: &http.Client{Timeout: time.Minute}, stop: make(chan struct{})}
	l.reset()
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := i; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(n % len(urls))
			}
		}()
	}
	return l
}

// one sends one API request that reads the database to server i and counts its answer.
func (l *load) one(i int) {
	req, _ := http.NewRequest("GET", l.urls[i]+"/api/v1/orgs/local/datasets", nil)
	req.Header.Set("Authorization", "Bearer "+l.token)
	resp, err := l.http.Do(req)
	what := ""
	switch {
	case err != nil:
		what = "error: " + err.Error()
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
		what = "503 without Retry-After"
	default:
		what = fmt.Sprint(resp.StatusCode)
	}
	if resp != nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p api.Problem
		if what != "200" && what != "503" && json.Unmarshal(body, &p) == nil {
			what += " " + p.Detail // the detail, not the body: its request ID would make every answer unique
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[i][what]++
	if what != "200" && what != "503" {
		l.bad = append(l.bad, fmt.Sprintf("server %d: %s", i, what))
	}
}

func (l *load) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts = make([]map[string]int, len(l.urls))
	for i := range l.counts {
		l.counts[i] = map[string]int{}
	}
}

// waitAll waits until every server has answered status n times since the last reset, and
// fails t if that has not happened after a few minutes (a bound for a stuck test, not a
// measured time).
func (l *load) waitAll(t *testing.T, status string, n int, phase string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		l.mu.Lock()
		done := true
		for _, c := range l.counts {
			done = done && c[status] >= n
		}
		counts := fmt.Sprint(l.counts)
		l.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not every server answered %s %d times; answers: %s", phase, status, n, counts)
		}
		time.Sleep(20 * time.Millisecond) // polling the counters, not waiting for an effect
	}
}

func (l *load) halt() []string {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad
}

// Two servers share a PostgreSQL that freezes (every process SIGSTOPped), thaws, and then
// crashes and restarts, all under load. While it is frozen both answer every request with
// 503 and Retry-After (none hangs until the database comes back) and /readyz says 503;
// after the thaw and after the restart both serve 200s again by themselves. No request ever
// gets anything but 200 or 503 with Retry-After.
func TestPostgresFrozenAndRestartedUnderLoad(t *testing.T) {
	pg := pgtest.Private(t)
	t.Setenv(secretbox.EnvMasterKey, strings.Repeat("5a", 32))
	shared := t.TempDir()
	var urls []string
	var dirs []string
	for range 2 {
		dir := t.TempDir()
		s, err := server.New(t.Context(), server.Options{DataDir: dir, Database: pg.URL, FileRoots: []string{shared}, DBTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s.API)
		t.Cleanup(func() {
			hs.Close()
			s.Close()
		})
		urls, dirs = append(urls, hs.URL), append(dirs, dir)
	}
	tok, err := os.ReadFile(filepath.Join(dirs[0], server.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(strings.TrimSpace(string(tok)), urls, 8)
	l.waitAll(t, "200", 3, "before the faults")

	pg.Freeze(t)
	l.reset()
	l.waitAll(t, "503", 5, "frozen")
	for i, u := range urls {
		resp, err := l.http.Get(u + "/readyz")
		if err != nil {
			t.Fatalf("server %d /readyz while frozen: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("server %d /readyz while frozen: %d, want 503", i, resp.StatusCode)
		}
	}
	pg.Thaw(t)
	l.reset()
	l.waitAll(t, "200", 5, "thawed")

	pg.Restart(t)
	l.reset()
	l.waitAll(t, "200", 5, "restarted")

	if bad := l.halt(); len(bad) > 0 {
		t.Errorf("%d answers were neither 200 nor 503 with Retry-After, e.g. %q", len(bad), bad[0])
	}
}
