package vend

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the vending service's Prometheus metrics.
type Metrics struct {
	vends    *prometheus.CounterVec
	cache    *prometheus.CounterVec
	upstream *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
}

// NewMetrics registers the vending metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		vends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_vends_total",
			Help: "Credential vends, by provider (none when refused before a creds key was resolved) and result (ok, denied, error).",
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
	}
	reg.MustRegister(m.vends, m.cache, m.upstream, m.latency, m.refusals)
	return m
}
