package vend

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the vending service's Prometheus metrics.
type Metrics struct {
	vends    *prometheus.CounterVec
	cache    *prometheus.CounterVec
	upstream *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	breakers *prometheus.GaugeVec
	refused  *prometheus.CounterVec
	stale    *prometheus.CounterVec
}

// NewMetrics registers the vending metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		vends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vends_total",
			Help: "Credential vends, by provider (the resolved creds key's; none when refused before a creds key was resolved) and result (ok, denied, error).",
		}, []string{"provider", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vend_cache_total",
			Help: "Vend cache lookups, by provider and result (hit, miss).",
		}, []string{"provider", "result"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vend_upstream_calls_total",
			Help: "Calls to a provider's upstream (e.g. STS AssumeRole), by provider and result (ok, error).",
		}, []string{"provider", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tarn_vend_upstream_duration_seconds",
			Help:    "Time of upstream calls, by provider.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vend_refusals_total",
			Help: "Cached credentials reported refused by clients, by provider and result (honoured: minted anew; ignored: they already replaced refused ones).",
		}, []string{"provider", "result"}),
		breakers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tarn_vend_upstream_breakers_open",
			Help: "Creds keys whose upstream circuit breaker is open or half-open (new vends of theirs answer 503), by provider.",
		}, []string{"provider"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vend_upstream_refused_total",
			Help: "Upstream calls not made because the creds key's budget refused them, by provider and reason (breaker: open or probing; rate: calls per second spent; inflight: too many calls at once).",
		}, []string{"provider", "reason"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vend_stale_total",
			Help: "Vends answered with cached credentials past their reuse point because the upstream failed or was not called (stale-if-error), by provider.",
		}, []string{"provider"}),
	}
	reg.MustRegister(m.vends, m.cache, m.upstream, m.latency, m.refusals, m.breakers, m.refused, m.stale)
	return m
}
