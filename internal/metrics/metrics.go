// Package metrics holds the gateway's Prometheus metrics. Labels are only
// ever fixed vocabularies chosen by the gateway (route patterns, status
// codes, datasource kinds, outcome codes): never a secret, a query text,
// a datasource name or any other value a user supplied.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one gateway's set of metrics, in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	queries       *prometheus.CounterVec
	queryDuration *prometheus.HistogramVec
	rows          *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	egressDenied  prometheus.Counter
	loginFailures prometheus.Counter
}

// New returns the metrics; pools reports the number of open connection
// pools (a gauge read at each scrape).
func New(pools func() int) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "querygate_http_requests_total",
		Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "querygate_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request (a streamed query counts until its last byte), by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"route"})
	m.queries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "querygate_queries_total",
		Help: "Queries by datasource kind and outcome (ok or an error code)."}, []string{"kind", "outcome"})
	m.queryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "querygate_query_duration_seconds",
		Help: "Query duration by datasource kind and outcome.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)},
		[]string{"kind", "outcome"})
	m.rows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "querygate_query_rows_total",
		Help: "Rows streamed to clients, by datasource kind."}, []string{"kind"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "querygate_query_bytes_total",
		Help: "Result bytes streamed to clients, by datasource kind."}, []string{"kind"})
	m.egressDenied = prometheus.NewCounter(prometheus.CounterOpts{Name: "querygate_egress_denied_total",
		Help: "Outbound connections refused by the egress policy."})
	m.loginFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "querygate_login_failures_total",
		Help: "Failed logins (wrong user name or password, throttled)."})
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.queries, m.queryDuration, m.rows, m.bytes, m.egressDenied, m.loginFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pools != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "querygate_pools",
			Help: "Open datasource connection pools (device-custody pools included)."}, func() float64 { return float64(pools()) }))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Query records one query.
func (m *Metrics) Query(kind, outcome string, d time.Duration, rows, bytes int64) {
	if m == nil {
		return
	}
	m.queries.WithLabelValues(kind, outcome).Inc()
	m.queryDuration.WithLabelValues(kind, outcome).Observe(d.Seconds())
	m.rows.WithLabelValues(kind).Add(float64(rows))
	m.bytes.WithLabelValues(kind).Add(float64(bytes))
}

// EgressDenied counts one refused outbound connection.
func (m *Metrics) EgressDenied() {
	if m != nil {
		m.egressDenied.Inc()
	}
}

// LoginFailed counts one failed login.
func (m *Metrics) LoginFailed() {
	if m != nil {
		m.loginFailures.Inc()
	}
}

// HTTP records one answered request by the route pattern the mux matched
// (never the raw path, which may hold ids; "" for none) and its status.
func (m *Metrics) HTTP(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}
