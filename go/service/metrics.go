package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

// serviceMetrics are the service's own series (the pool's are the daemon's, under
// /api/v1/secure-channel/metrics): what the service answered, what the daemon did for it, and
// whether the daemon is reachable and its pools healthy.
type serviceMetrics struct {
	requests       *prometheus.CounterVec   // endpoint, code
	duration       *prometheus.HistogramVec // endpoint
	upstreamErrors *prometheus.CounterVec   // endpoint, kind
	staleResponses *prometheus.CounterVec   // endpoint
	poolReachable  prometheus.Gauge
	poolHealthy    prometheus.Gauge
	monitorChanges prometheus.Counter
}

func newServiceMetrics(registerer prometheus.Registerer, cacheStats func() (uint64, uint64)) (*serviceMetrics, error) {
	m := &serviceMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securechannel_service_requests_total",
			Help: "Requests the service answered, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "securechannel_service_request_duration_seconds",
			Help:    "Time to answer a request, daemon round trip included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"endpoint"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securechannel_service_daemon_errors_total",
			Help: "Calls to the daemon that failed, by endpoint and kind (network, unauthorized, not_found, client_error, server_error, decode).",
		}, []string{"endpoint", "kind"}),
		staleResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securechannel_service_stale_responses_total",
			Help: "Answers served from the last good copy because the daemon did not answer.",
		}, []string{"endpoint"}),
		poolReachable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "securechannel_service_pool_reachable",
			Help: "1 when the daemon answered the latest health poll, 0 otherwise.",
		}),
		poolHealthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "securechannel_service_pool_healthy",
			Help: "1 when the latest health poll found every pool healthy, 0 otherwise (unreachable included).",
		}),
		monitorChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securechannel_service_monitor_changes_total",
			Help: "Health polls that saw a change of reachability, health, readiness or breaker.",
		}),
	}
	cacheHits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "securechannel_service_cache_hits_total",
		Help: "Answers served from the cache (younger than CacheTimeout) without asking the daemon.",
	}, func() float64 { hits, _ := cacheStats(); return float64(hits) })
	cacheMisses := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "securechannel_service_cache_misses_total",
		Help: "Answers the cache did not have, so the daemon was asked.",
	}, func() float64 { _, misses := cacheStats(); return float64(misses) })
	for _, collector := range []prometheus.Collector{m.requests, m.duration, m.upstreamErrors, m.staleResponses,
		m.poolReachable, m.poolHealthy, m.monitorChanges, cacheHits, cacheMisses} {
		if err := registerer.Register(collector); err != nil {
			return nil, err
		}
	}
	return m, nil
}
