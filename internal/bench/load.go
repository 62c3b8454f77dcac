// Package bench measures tarn against baselines measured in the same run. Its benchmarks
// report ratios (tarn / baseline) rather than assert speeds; scripts/bench.sh runs them.
package bench

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadResult summarises one load run.
type loadResult struct {
	requests int
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int
}

func (r loadResult) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends total requests from clients concurrent clients, each keeping its connection
// alive, and measures each request's latency. newReq builds a request of client number i
// (0 to clients-1); a non-2xx answer counts as an error.
func load(clients, total int, newReq func(i int) *http.Request) loadResult {
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, total)
		errors    int
		wg        sync.WaitGroup
		next      = make(chan struct{}, total)
	)
	for range total {
		next <- struct{}{}
	}
	close(next)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			var mine []time.Duration
			bad := 0
			for range next {
				t0 := time.Now()
				resp, err := hc.Do(newReq(i))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mine = append(mine, time.Since(t0))
				if err != nil || resp.StatusCode >= 300 {
					bad++
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	return loadResult{requests: total, elapsed: elapsed, p50: pct(0.50), p99: pct(0.99), errors: errors}
}

// postJSON returns a request builder for a JSON POST with a bearer token to one of urls:
// client i sends to urls[i % len(urls)], so the clients are spread evenly over them.
func postJSON(urls []string, token string, body []byte) func(i int) *http.Request {
	return func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, urls[i%len(urls)], bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
}
