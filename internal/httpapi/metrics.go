package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	unauthenticated *prometheus.CounterVec
	objectReads     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tarn_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		unauthenticated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_unauthenticated_requests_total",
			Help: "Refused requests whose caller never authenticated, by route pattern; they are logged but kept out of every org's audit log.",
		}, []string{"route"}),
		objectReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tarn_object_reads_total",
			Help: "Objects of file datasets requested through signed URLs, by result (ok, denied, missing, error); reads are not audited, the presign that signed the URL was.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.unauthenticated, m.objectReads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
