package monitor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"securechannel/internal/daemontest"
)

// sendThroughDaemon sends n requests through the daemon's http listener to the upstream, so the
// pool has traffic to report.
func sendThroughDaemon(t *testing.T, daemon *daemontest.Daemon, n int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		response, err := client.Get(daemon.ListenerURL + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(response.Body)
		response.Body.Close()
		if response.StatusCode != http.StatusOK || string(body) != "hello /ping" {
			t.Fatalf("through the daemon: HTTP %d %q", response.StatusCode, body)
		}
	}
}

func newClient(t *testing.T, config ClientConfig) *Client {
	t.Helper()
	client, err := NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestEveryCallAgainstTheRealDaemon(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{})
	sendThroughDaemon(t, daemon, 20)
	client := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, Pool: "relay"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	status, err := client.GetPoolStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Namespace != "relay" || status.Endpoint != upstream.Address || len(status.Connections) == 0 ||
		status.CircuitBreaker != BreakerClosed || !status.PoolHealthy || status.MaxConnections != 8 {
		t.Errorf("pool status: %+v", status)
	}
	if status.HTTP == nil || status.HTTP.Requests < 20 || status.HTTP.Protocol != "h2" {
		t.Errorf("the daemon's http listener exports its client: %+v", status.HTTP)
	}
	if status.UpstreamCertificateNotAfter == nil || status.UpstreamCertificateNotAfter.Before(time.Now()) {
		t.Errorf("upstream certificate expiry: %v", status.UpstreamCertificateNotAfter)
	}

	health, err := client.GetHealthStatus(ctx)
	if err != nil || health.Status != "healthy" || !health.PoolHealthy || health.Namespace != "relay" {
		t.Errorf("health: %+v %v", health, err)
	}
	summary, err := client.GetHealthSummary(ctx)
	if err != nil || summary.Status != "healthy" || len(summary.Pools) != 1 {
		t.Errorf("healthz: %+v %v", summary, err)
	}
	ready, err := client.GetReadiness(ctx)
	if err != nil || ready.Status != "ready" || !ready.Ready {
		t.Errorf("readyz: %+v %v", ready, err)
	}

	list, err := client.GetConnections(ctx)
	if err != nil || list.Count != int64(len(list.Connections)) || list.Count == 0 {
		t.Fatalf("connections: %+v %v", list, err)
	}
	one, err := client.GetConnection(ctx, list.Connections[0].ConnectionID)
	if err != nil || one.ConnectionID != list.Connections[0].ConnectionID || one.TLSVersion == "" {
		t.Errorf("connection %d: %+v %v", list.Connections[0].ConnectionID, one, err)
	}
	_, err = client.GetConnection(ctx, 999999)
	var apiErr *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Code != "not_found" || apiErr.StatusCode != 404 {
		t.Errorf("unknown connection: %v", err)
	}

	page, err := client.GetConnectionPage(ctx, ConnectionQuery{Sort: "leases", Descending: true, Limit: 1})
	if err != nil || page.Count != list.Count || len(page.Connections) != 1 || page.Limit == nil || *page.Limit != 1 ||
		page.Offset == nil || *page.Offset != 0 {
		t.Errorf("connection page: %+v %v", page, err)
	} else {
		for _, connection := range list.Connections {
			if connection.Leases > page.Connections[0].Leases {
				t.Errorf("the first of a descending page by leases has %d, connection %d has %d",
					page.Connections[0].Leases, connection.ConnectionID, connection.Leases)
			}
		}
	}
	_, err = client.GetConnectionPage(ctx, ConnectionQuery{Sort: "password"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "sort must be one of") {
		t.Errorf("a sort field the server refuses: %v", err)
	}

	dashboard, err := client.GetDashboard(ctx)
	if err != nil || dashboard.Service == "" || len(dashboard.Pools) != 1 {
		t.Fatalf("dashboard: %+v %v", dashboard, err)
	}
	relay := dashboard.Pools[0]
	if relay.Namespace != "relay" || relay.Endpoint != upstream.Address || relay.Connections.Max != 8 ||
		relay.CircuitBreaker != BreakerClosed || relay.HTTP == nil || relay.HTTP.Requests < 20 || len(relay.History) == 0 ||
		relay.UpstreamCertificateNotAfterUnixMs == nil {
		t.Errorf("dashboard pool: %+v", relay)
	}

	stats, err := client.GetStats(ctx)
	if err != nil || stats.RequestsTotal == 0 || stats.ConnectionsCreatedTotal == 0 || stats.Namespace != "relay" {
		t.Errorf("stats: %+v %v", stats, err)
	}
	enhanced, err := client.GetEnhancedStatus(ctx)
	if err != nil || enhanced.Status != "ok" || len(enhanced.Pools) != 1 || enhanced.Version == "" ||
		enhanced.SecureChannel.Pools != 1 {
		t.Errorf("enhanced status: %+v %v", enhanced, err)
	}
	pools, err := client.GetPools(ctx)
	if err != nil || len(pools.Pools) != 1 || pools.Pools[0] != (PoolRef{Namespace: "relay", Endpoint: upstream.Address, Scheme: "https"}) {
		t.Errorf("pools: %+v %v", pools, err)
	}

	for name, get := range map[string]func(context.Context) (*Metrics, error){
		"/metrics": client.GetMetrics, "pool metrics": client.GetPoolMetrics,
	} {
		metrics, err := get(ctx)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		family := metrics.Families["relay_active_connections"]
		if family == nil || len(family.Metric) != 1 || family.Metric[0].GetGauge().GetValue() < 1 {
			t.Errorf("%s: relay_active_connections = %v", name, family)
		}
		if !strings.Contains(metrics.Text, "# TYPE relay_requests_total counter") {
			t.Errorf("%s: raw text lacks relay_requests_total", name)
		}
	}

	other := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, Pool: "nope"})
	if _, err := other.GetPoolStatus(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("a pool the daemon does not have: %v", err)
	}
}

func TestTheTokenIsRequiredAndAWrongOneIsNamed(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{Token: "s3cret-token"})
	ctx := context.Background()
	for _, token := range []string{"", "wrong"} {
		client := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, AuthToken: token, RetryAttempts: 3})
		_, err := client.GetPoolStatus(ctx)
		var apiErr *APIError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.Code != "unauthorized" {
			t.Errorf("token %q: %v", token, err)
		}
		// The probes stay open, as Kubernetes needs them.
		if _, err := client.GetHealthSummary(ctx); err != nil {
			t.Errorf("token %q: /healthz: %v", token, err)
		}
	}
	client := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, AuthToken: "s3cret-token"})
	if _, err := client.GetPoolStatus(ctx); err != nil {
		t.Errorf("the right token: %v", err)
	}
}

func TestRetriesCarryACallOverADaemonRestart(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	daemon.Stop()

	// Without retries the call fails at once with the network's reason.
	once := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL})
	_, err := once.GetPoolStatus(ctx)
	var networkErr *NetworkError
	if !errors.As(err, &networkErr) || networkErr.Attempts != 1 || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("daemon down, no retries: %v", err)
	}

	// The context bounds the retries.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	patient := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, RetryAttempts: 1000,
		RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond})
	_, err = patient.GetPoolStatus(short)
	stop()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("retries past the context's deadline: %v", err)
	}

	// A call in flight while the daemon comes back succeeds after a few attempts.
	result := make(chan *Response, 1)
	failure := make(chan error, 1)
	go func() {
		response, err := patient.Get(ctx, "/api/v1/secure-channel/status", nil)
		if err != nil {
			failure <- err
			return
		}
		result <- response
	}()
	time.Sleep(500 * time.Millisecond)
	daemon.Restart(0)
	select {
	case response := <-result:
		if response.Attempts < 2 || response.StatusCode != 200 {
			t.Errorf("after the restart: HTTP %d in %d attempts", response.StatusCode, response.Attempts)
		}
	case err := <-failure:
		t.Errorf("the call did not survive the restart: %v", err)
	}
}

func TestCachedAnswersLastTheirTtl(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{})
	// Long enough to outlive the daemon's stop below on a loaded machine.
	client := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL, CacheTTL: 5 * time.Second})
	ctx := context.Background()
	first, err := client.Get(ctx, "/api/v1/secure-channel/stats", nil)
	if err != nil || first.FromCache {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := client.Get(ctx, "/api/v1/secure-channel/stats", nil)
	if err != nil || !second.FromCache || string(second.Body) != string(first.Body) || !second.FetchedAt.Equal(first.FetchedAt) {
		t.Fatalf("within the TTL: %+v %v", second, err)
	}
	// The daemon is gone, the cache still answers until the TTL ends.
	daemon.Stop()
	if _, err := client.GetStats(ctx); err != nil {
		t.Errorf("cached stats while the daemon is down: %v", err)
	}
	time.Sleep(time.Until(first.FetchedAt.Add(5*time.Second + 50*time.Millisecond)))
	if _, err := client.GetStats(ctx); err == nil {
		t.Error("after the TTL the daemon must be asked again (and it is down)")
	}
	if hits, misses := client.CacheStats(); hits != 2 || misses != 2 {
		t.Errorf("cache hits %d, misses %d; want 2 and 2", hits, misses)
	}
}

func TestMonitorCallsBackWhenTheBreakerOpensAndCloses(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{
		ExtraPool: "circuit_breaker_failure_threshold = 2\ncircuit_breaker_cooldown = \"500ms\"\n"})
	client := newClient(t, ClientConfig{BaseURL: daemon.MonitorURL})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	snapshots := make(chan Snapshot, 100)
	done := make(chan error, 1)
	go func() {
		done <- client.Monitor(ctx, 100*time.Millisecond, func(s Snapshot) {
			select {
			case snapshots <- s:
			case <-ctx.Done():
			}
		})
	}()

	waitFor := func(what string, match func(Snapshot) bool) {
		t.Helper()
		for {
			select {
			case s := <-snapshots:
				t.Logf("snapshot: %v", s.Changes)
				if match(s) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no snapshot with %s", what)
			}
		}
	}
	breaker := func(state BreakerState) func(Snapshot) bool {
		return func(s Snapshot) bool {
			return s.Reachable && len(s.Health.Pools) == 1 && s.Health.Pools[0].CircuitBreaker == state
		}
	}
	waitFor("the first, closed breaker", breaker(BreakerClosed))
	// The pool finds an idle connection dead when it checks it out, and opens the breaker after
	// failed connects: traffic through the daemon, as a relay would send, drives both.
	go func() {
		local := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			if response, err := local.Get(daemon.ListenerURL + "/traffic"); err == nil {
				response.Body.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	upstream.Stop()
	waitFor("the breaker open", func(s Snapshot) bool {
		return breaker(BreakerOpen)(s) && strings.Contains(strings.Join(s.Changes, "\n"), "breaker closed -> open")
	})
	upstream.Start()
	waitFor("the breaker closed again", breaker(BreakerClosed))
	daemon.Stop()
	waitFor("the daemon unreachable", func(s Snapshot) bool {
		var opErr *net.OpError
		return !s.Reachable && errors.As(s.Err, &opErr)
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Monitor returned %v", err)
	}
}
