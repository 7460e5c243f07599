package monitor

import "time"

// The structs below decode the monitoring API of `scpool serve` and of any MonitoringServer
// (docs/openapi.yaml). Their JSON names are the server's, field for field; the golden bodies in
// tests/golden/ are decoded in golden_test.go with unknown fields refused, and the C++ contract
// test checks those bodies against the real server, so a field cannot be added on one side only.
// The server may add fields at any time (the contract never removes or changes one); decoding
// here ignores the ones a struct does not name.

// ConnectionStatus is one pooled connection (`connections[]`, `/connections/{id}`).
type ConnectionStatus struct {
	ConnectionID  uint64            `json:"connection_id"`
	LastActivity  time.Time         `json:"last_activity"`
	Reconnects    int64             `json:"reconnects"`
	Errors        int64             `json:"errors"`
	P95LatencyMs  int64             `json:"p95_latency_ms"`
	IsHealthy     bool              `json:"is_healthy"`
	State         string            `json:"state"` // connecting, idle, leased, closing
	Created       time.Time         `json:"created"`
	Leases        int64             `json:"leases"`
	RoundTrips    int64             `json:"round_trips"`
	BytesSent     int64             `json:"bytes_sent"`
	BytesReceived int64             `json:"bytes_received"`
	LatencyMs     ConnectionLatency `json:"latency_ms"`
	ALPN          string            `json:"alpn"` // "h2c" on a plain pool speaking HTTP/2
	TLSVersion    string            `json:"tls_version"`
	TLSResumed    bool              `json:"tls_resumed"`
	// An HTTP/2 session's streams running now and the most it takes at once; 0 and 0 for a
	// connection that runs one exchange at a time.
	StreamsInFlight      int64            `json:"streams_in_flight"`
	MaxConcurrentStreams int64            `json:"max_concurrent_streams"`
	Health               ConnectionHealth `json:"health"`
	// Affinity keys bound to this connection (docs/POOL.md, "Connection affinity").
	AffinityKeys int64 `json:"affinity_keys"`
}

// ConnectionHealth is a connection's health score (0-100) and its inputs: its p95 round trip
// over the pool's median, its stalls, the exchanges that failed on it since the pool's last
// cleanup pass, and its age over max_lifetime (docs/POOL.md, "Health scores").
type ConnectionHealth struct {
	Score          int     `json:"score"`
	LatencyRatio   float64 `json:"latency_ratio"`
	Stalls         int64   `json:"stalls"`
	RecentFailures int64   `json:"recent_failures"`
	AgeFraction    float64 `json:"age_fraction"`
}

// ConnectionLatency holds precise quantiles of a connection's last 32 round trips.
type ConnectionLatency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

// LatencySummary holds quantiles of a latency histogram in milliseconds (0 without samples).
type LatencySummary struct {
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Samples int64   `json:"samples"`
}

// MemoryProtection describes the process's SecureBuffers; the same in every pool's status.
type MemoryProtection struct {
	Enabled       bool  `json:"enabled"`
	SelfCheck     bool  `json:"self_check"`
	SecureBuffers bool  `json:"secure_buffers"`
	Buffers       int64 `json:"buffers"`
	LockedBytes   int64 `json:"locked_bytes"`
	MlockFailures int64 `json:"mlock_failures"`
}

// PoolStatus is one pool and every connection it holds (`/api/v1/secure-channel/status`,
// `/status/connections`). ActiveConnections = idle + in use.
type PoolStatus struct {
	Endpoint                    string             `json:"endpoint"`
	Scheme                      string             `json:"scheme"` // "https", or "http" for a pool with tls = false
	ActiveConnections           int64              `json:"active_connections"`
	TotalReconnects             int64              `json:"total_reconnects"`
	TotalErrors                 int64              `json:"total_errors"`
	PoolP95LatencyMs            int64              `json:"pool_p95_latency_ms"`
	Connections                 []ConnectionStatus `json:"connections"`
	LastUpdated                 time.Time          `json:"last_updated"`
	Namespace                   string             `json:"namespace"`
	IdleConnections             int64              `json:"idle_connections"`
	InUseConnections            int64              `json:"in_use_connections"`
	ConnectingConnections       int64              `json:"connecting_connections"`
	MaxConnections              int64              `json:"max_connections"`
	PendingAcquires             int64              `json:"pending_acquires"`
	CircuitBreaker              BreakerState       `json:"circuit_breaker"`
	PoolHealthy                 bool               `json:"pool_healthy"`
	LatencyMs                   LatencySummary     `json:"latency_ms"`
	ErrorsByKind                map[string]int64   `json:"errors_by_kind"`
	UpstreamCertificateNotAfter *time.Time         `json:"upstream_certificate_not_after"` // nil before the first full handshake
	MemoryProtection            MemoryProtection   `json:"memory_protection"`
	HTTP                        *HTTPClientStatus  `json:"http,omitempty"` // only on a pool with an exported HttpClient
}

// BreakerState is a pool's circuit breaker: closed, half_open or open.
type BreakerState string

const (
	BreakerClosed   BreakerState = "closed"
	BreakerHalfOpen BreakerState = "half_open"
	BreakerOpen     BreakerState = "open"
)

// HTTPClientStatus sums what the HttpClients exported for a pool did since they were created.
type HTTPClientStatus struct {
	Protocol                    string                  `json:"protocol"` // unknown, http/1.1, h2
	Requests                    int64                   `json:"requests"`
	RequestsOnReusedConnections int64                   `json:"requests_on_reused_connections"`
	FailedRequests              int64                   `json:"failed_requests"`
	Retries                     int64                   `json:"retries"`
	Goaways                     int64                   `json:"goaways"`
	RequestsInFlight            int64                   `json:"requests_in_flight"`
	HTTP2Connections            []HTTP2ConnectionStatus `json:"http2_connections"`
}

// HTTP2ConnectionStatus is one HTTP/2 connection an HttpClient holds.
type HTTP2ConnectionStatus struct {
	ConnectionID             int64 `json:"connection_id"`
	StreamsInFlight          int64 `json:"streams_in_flight"`
	PeerMaxConcurrentStreams int64 `json:"peer_max_concurrent_streams"`
	StreamsStarted           int64 `json:"streams_started"`
	Draining                 bool  `json:"draining"`
}

// ConnectionList is `/api/v1/secure-channel/connections`.
// Offset and Limit are set only in an answer to a sorted or paged request (?sort, order,
// offset, limit); Count is the pool's number of connections either way.
type ConnectionList struct {
	Endpoint    string             `json:"endpoint"`
	Scheme      string             `json:"scheme"` // "https", or "http" for a pool with tls = false
	Count       int64              `json:"count"`
	Connections []ConnectionStatus `json:"connections"`
	LastUpdated time.Time          `json:"last_updated"`
	Offset      *int64             `json:"offset,omitempty"`
	Limit       *int64             `json:"limit,omitempty"`
}

// Dashboard is `/api/v1/secure-channel/dashboard`: what the dashboard page shows of every pool
// (docs/DASHBOARD.md). Times are milliseconds since the Unix epoch.
type Dashboard struct {
	Service         string          `json:"service"`
	StartedUnixMs   int64           `json:"started_unix_ms"`
	TimestampUnixMs int64           `json:"timestamp_unix_ms"`
	Pools           []DashboardPool `json:"pools"`
}

// DashboardPool is one pool (one endpoint of a multi-endpoint pool) on the dashboard.
type DashboardPool struct {
	Namespace                         string               `json:"namespace"`
	Endpoint                          string               `json:"endpoint"`
	Scheme                            string               `json:"scheme"`
	PoolHealthy                       bool                 `json:"pool_healthy"`
	Ready                             bool                 `json:"ready"`
	CircuitBreaker                    BreakerState         `json:"circuit_breaker"`
	CircuitBreakerSinceUnixMs         *int64               `json:"circuit_breaker_since_unix_ms"` // nil: closed since the start
	Connections                       DashboardConnections `json:"connections"`
	RequestsTotal                     int64                `json:"requests_total"`
	ConnectionReusesTotal             int64                `json:"connection_reuses_total"`
	ReuseRatio                        float64              `json:"reuse_ratio"`
	TotalErrors                       int64                `json:"total_errors"`
	ErrorsByKind                      map[string]int64     `json:"errors_by_kind"`
	LatencyMs                         LatencySummary       `json:"latency_ms"` // the pool's recent window
	UpstreamCertificateNotAfterUnixMs *int64               `json:"upstream_certificate_not_after_unix_ms"`
	CertificateExpiryWarningMs        int64                `json:"certificate_expiry_warning_ms"`
	HTTP                              *DashboardHTTP       `json:"http,omitempty"` // only with an exported HttpClient
	History                           []DashboardSample    `json:"history"`
	TimestampUnixMs                   int64                `json:"timestamp_unix_ms"`
}

// DashboardConnections counts a pool's connections against its limit.
type DashboardConnections struct {
	Active          int64 `json:"active"`
	Idle            int64 `json:"idle"`
	InUse           int64 `json:"in_use"`
	Connecting      int64 `json:"connecting"`
	Max             int64 `json:"max"`
	PendingAcquires int64 `json:"pending_acquires"`
}

// DashboardHTTP is what the HttpClients exported for a pool did, with their HTTP/2 streams.
type DashboardHTTP struct {
	Protocol                    string `json:"protocol"`
	Requests                    int64  `json:"requests"`
	RequestsOnReusedConnections int64  `json:"requests_on_reused_connections"`
	FailedRequests              int64  `json:"failed_requests"`
	RequestsInFlight            int64  `json:"requests_in_flight"`
	HTTP2Sessions               int64  `json:"http2_sessions"`
	HTTP2StreamsInFlight        int64  `json:"http2_streams_in_flight"`
	HTTP2StreamCapacity         int64  `json:"http2_stream_capacity"`
}

// DashboardSample is one 5 s point of a pool's 15-minute history. The quantiles are those of
// the RoundTrips since the previous sample; nil when there was none.
type DashboardSample struct {
	TimeUnixMs    int64    `json:"time_unix_ms"`
	RoundTrips    int64    `json:"round_trips"`
	P50Ms         *float64 `json:"p50_ms"`
	P95Ms         *float64 `json:"p95_ms"`
	P99Ms         *float64 `json:"p99_ms"`
	RequestsTotal int64    `json:"requests_total"`
	ErrorsTotal   int64    `json:"errors_total"`
	InUse         int64    `json:"in_use"`
	Idle          int64    `json:"idle"`
}

// HealthStatus is one pool's health (`/api/v1/secure-channel/health`, and each of
// HealthSummary.Pools). The server answers 503 with this body when the pool is unhealthy.
type HealthStatus struct {
	Status            string       `json:"status"` // healthy, unhealthy
	Timestamp         time.Time    `json:"timestamp"`
	PoolHealthy       bool         `json:"pool_healthy"`
	ActiveConnections int64        `json:"active_connections"`
	Endpoint          string       `json:"endpoint"`
	Scheme            string       `json:"scheme"` // "https", or "http" for a pool with tls = false
	Namespace         string       `json:"namespace"`
	Ready             bool         `json:"ready"`
	IdleConnections   int64        `json:"idle_connections"`
	InUseConnections  int64        `json:"in_use_connections"`
	PendingAcquires   int64        `json:"pending_acquires"`
	CircuitBreaker    BreakerState `json:"circuit_breaker"`
	LastConnectError  string       `json:"last_connect_error,omitempty"` // only while connects fail
}

// HealthSummary is `/healthz` and `/readyz`: the verdict over every monitored pool.
type HealthSummary struct {
	Status            string         `json:"status"` // healthy, unhealthy (healthz); ready, not_ready (readyz)
	Timestamp         time.Time      `json:"timestamp"`
	PoolHealthy       bool           `json:"pool_healthy"`
	Ready             bool           `json:"ready"`
	ActiveConnections int64          `json:"active_connections"`
	Pools             []HealthStatus `json:"pools"`
	Message           string         `json:"message,omitempty"` // only when no pool is monitored
}

// PoolStatistics is `/api/v1/secure-channel/stats`: aggregates of one pool since it was created.
type PoolStatistics struct {
	Endpoint                string         `json:"endpoint"`
	Scheme                  string         `json:"scheme"`
	Namespace               string         `json:"namespace"`
	Timestamp               time.Time      `json:"timestamp"`
	UtilizationPercent      float64        `json:"utilization_percent"`
	ErrorRatePercent        float64        `json:"error_rate_percent"`
	AvgLatencyMs            float64        `json:"avg_latency_ms"`
	P95LatencyMs            float64        `json:"p95_latency_ms"`
	ReuseRatio              float64        `json:"reuse_ratio"`
	RequestsTotal           int64          `json:"requests_total"`
	ConnectionReusesTotal   int64          `json:"connection_reuses_total"`
	ConnectionsCreatedTotal int64          `json:"connections_created_total"`
	TLSResumedTotal         int64          `json:"tls_resumed_total"`
	TotalErrors             int64          `json:"total_errors"`
	ActiveConnections       int64          `json:"active_connections"`
	MaxConnections          int64          `json:"max_connections"`
	RecentLatencyMs         LatencySummary `json:"recent_latency_ms"`
	AcquireWaitMs           LatencySummary `json:"acquire_wait_ms"`
	TLSHandshakeMs          LatencySummary `json:"tls_handshake_ms"`
	// Affinity keys remembered now, keys moved to another connection, keys forgotten beyond
	// affinity_max_keys.
	AffinityKeys             int64             `json:"affinity_keys"`
	AffinityMovesTotal       int64             `json:"affinity_moves_total"`
	AffinityKeysEvictedTotal int64             `json:"affinity_keys_evicted_total"`
	HTTP                     *HTTPClientStatus `json:"http,omitempty"`
}

// EnhancedStatusResponse is seed 002's enhanced status over every pool
// (`/api/v1/secure-channel/status/enhanced`); a Go `/status` handler can embed it as is.
// The server answers 503 with this body when Status is "down".
type EnhancedStatusResponse struct {
	Service          string                 `json:"service"`
	Status           string                 `json:"status"` // ok, degraded, down
	Version          string                 `json:"version"`
	Timestamp        time.Time              `json:"timestamp"`
	Uptime           string                 `json:"uptime"` // time.Duration.String of whole seconds
	UptimeSeconds    int64                  `json:"uptime_seconds"`
	MemoryProtection MemoryProtectionStatus `json:"memory_protection"`
	SecureChannel    SecureChannelSummary   `json:"secure_channel"`
	Performance      Performance            `json:"performance"`
	Pools            []EnhancedPoolStatus   `json:"pools"`
}

// MemoryProtectionStatus is MemoryProtection with the seed's RustIntegrity: at least one
// SecureBuffer is registered and every registered one's canaries are intact (never vacuously true).
type MemoryProtectionStatus struct {
	MemoryProtection
	RustIntegrity bool `json:"rust_integrity"`
}

// SecureChannelSummary is the enhanced status's verdict over the pools.
type SecureChannelSummary struct {
	Status            string  `json:"status"` // healthy, degraded, unhealthy
	PoolHealthy       bool    `json:"pool_healthy"`
	ActiveConnections int64   `json:"active_connections"`
	ErrorRate         float64 `json:"error_rate"` // percent
	AvgLatencyMs      float64 `json:"avg_latency_ms"`
	Pools             int64   `json:"pools"`
	HealthyPools      int64   `json:"healthy_pools"`
}

// Performance is the enhanced status's figures over every pool, in percent and milliseconds.
type Performance struct {
	ConnectionPoolUtilization float64 `json:"connection_pool_utilization"`
	AvgResponseTimeMs         float64 `json:"avg_response_time_ms"`
	ErrorRatePercent          float64 `json:"error_rate_percent"`
}

// EnhancedPoolStatus is one pool's line of the enhanced status.
type EnhancedPoolStatus struct {
	Namespace          string  `json:"namespace"`
	Endpoint           string  `json:"endpoint"`
	Scheme             string  `json:"scheme"` // "https", or "http" for a pool with tls = false
	Status             string  `json:"status"` // healthy, unhealthy
	PoolHealthy        bool    `json:"pool_healthy"`
	ActiveConnections  int64   `json:"active_connections"`
	MaxConnections     int64   `json:"max_connections"`
	UtilizationPercent float64 `json:"utilization_percent"`
	ErrorRatePercent   float64 `json:"error_rate_percent"`
	AvgLatencyMs       float64 `json:"avg_latency_ms"`
}

// PoolList is `/api/v1/secure-channel/pools`.
type PoolList struct {
	Pools []PoolRef `json:"pools"`
}

// PoolRef names a pool: Namespace selects it with ?pool=, Endpoint with ?endpoint=.
type PoolRef struct {
	Namespace string `json:"namespace"`
	Endpoint  string `json:"endpoint"`
	Scheme    string `json:"scheme"` // "https", or "http" for a pool with tls = false
}

// ErrorBody is the body of every error response of the server.
type ErrorBody struct {
	Error   string `json:"error"` // bad_request, unauthorized, not_found, ...
	Message string `json:"message"`
}
