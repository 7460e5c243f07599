package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"securechannel/internal/daemontest"
	"securechannel/monitor"
)

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url string) answer {
	t.Helper()
	return send(t, http.MethodGet, url)
}

func send(t *testing.T, method, url string) answer {
	t.Helper()
	request, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{response.StatusCode, response.Header, string(body)}
}

func startService(t *testing.T, config ServiceConfig) (*Service, *httptest.Server) {
	t.Helper()
	svc, err := NewService(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Stop)
	server := httptest.NewServer(svc.Handler())
	t.Cleanup(server.Close)
	return svc, server
}

func warmDaemon(t *testing.T) (*daemontest.Upstream, *daemontest.Daemon) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{})
	for i := 0; i < 10; i++ {
		response, err := http.Get(daemon.ListenerURL + "/warm")
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
	}
	return upstream, daemon
}

func TestTheServiceServesTheDaemonsApi(t *testing.T) {
	upstream, daemon := warmDaemon(t)
	svc, server := startService(t, ServiceConfig{PoolURL: daemon.MonitorURL, EnableMetrics: true,
		CacheTimeout: -1, MonitorInterval: 100 * time.Millisecond})
	if snapshot := svc.Snapshot(); !snapshot.Reachable || !snapshot.Health.PoolHealthy {
		t.Errorf("Start returns after the first poll: %+v", snapshot)
	}

	var status monitor.PoolStatus
	a := get(t, server.URL+"/api/v1/secure-channel/status?pool=relay&ignored=1")
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(a.body), &status) != nil ||
		status.Endpoint != upstream.Address || len(status.Connections) == 0 {
		t.Fatalf("status: %d %q", a.status, a.body)
	}
	id := status.Connections[0].ConnectionID
	for path, want := range map[string]int{
		"/api/v1/secure-channel/status/enhanced":                           200,
		"/api/v1/secure-channel/health":                                    200,
		"/api/v1/secure-channel/connections":                               200,
		"/api/v1/secure-channel/connections/" + strconv.FormatUint(id, 10): 200,
		"/api/v1/secure-channel/connections/999999":                        404,
		"/api/v1/secure-channel/connections/x1":                            400,
		"/api/v1/secure-channel/stats":                                     200,
		"/api/v1/secure-channel/metrics":                                   200,
		"/api/v1/secure-channel/pools":                                     200,
		"/api/v1/secure-channel/status?pool=nope":                          404,
		"/api/v1/secure-channel/health?pool=nope":                          404,
		"/api/v1/secure-channel/nothing":                                   404,
		"/elsewhere":                                                       404,
	} {
		if a := get(t, server.URL+path); a.status != want {
			t.Errorf("%s: HTTP %d, want %d: %s", path, a.status, want, a.body)
		}
	}
	if a := get(t, server.URL+"/api/v1/secure-channel/pools"); a.body != get(t, daemon.MonitorURL+"/api/v1/secure-channel/pools").body {
		t.Errorf("the service changed the daemon's answer: %s", a.body)
	}
	if a := send(t, http.MethodPost, server.URL+"/api/v1/secure-channel/status"); a.status != 405 || a.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", a.status, a.header)
	}
	var body monitor.ErrorBody
	if a := get(t, server.URL+"/api/v1/secure-channel/connections/999999"); json.Unmarshal([]byte(a.body), &body) != nil || body.Error != "not_found" {
		t.Errorf("the daemon's 404 body is passed on: %s", a.body)
	}

	metrics := get(t, server.URL+"/metrics").body
	for _, line := range []string{
		`securechannel_service_requests_total{code="200",endpoint="status"} 1`,
		`securechannel_service_requests_total{code="404",endpoint="connection"} 2`,
		`securechannel_service_daemon_errors_total{endpoint="connection",kind="not_found"} 2`,
		`securechannel_service_pool_reachable 1`,
		`securechannel_service_pool_healthy 1`,
		`securechannel_service_cache_hits_total 0`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestTheCacheSparesTheDaemon(t *testing.T) {
	_, daemon := warmDaemon(t)
	_, server := startService(t, ServiceConfig{PoolURL: daemon.MonitorURL, EnableMetrics: true, CacheTimeout: time.Minute})
	first := get(t, server.URL+"/api/v1/secure-channel/stats")
	for i := 0; i < 5; i++ {
		if again := get(t, server.URL+"/api/v1/secure-channel/stats"); again.body != first.body {
			t.Fatal("an answer within CacheTimeout must be the cached one")
		}
	}
	metrics := get(t, server.URL+"/metrics").body
	if !strings.Contains(metrics, "securechannel_service_cache_hits_total 5\n") {
		t.Errorf("five cache hits expected:\n%s", metrics)
	}
}

func TestWithTheDaemonDownTheLastAnswersAreServedStaleAndHealthSaysWhy(t *testing.T) {
	_, daemon := warmDaemon(t)
	svc, server := startService(t, ServiceConfig{PoolURL: daemon.MonitorURL, EnableMetrics: true,
		CacheTimeout: -1, MonitorInterval: 50 * time.Millisecond, RetryAttempts: -1})
	fresh := get(t, server.URL+"/api/v1/secure-channel/status")
	if fresh.status != 200 || fresh.header.Get("Warning") != "" {
		t.Fatalf("fresh: %d %v", fresh.status, fresh.header)
	}
	get(t, server.URL+"/api/v1/secure-channel/health")
	if _, err := svc.GetEnhancedStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
	daemon.Stop()

	stale := get(t, server.URL+"/api/v1/secure-channel/status")
	if stale.status != 200 || stale.body != fresh.body || stale.header.Get("Warning") != `110 - "Response is Stale"` ||
		!strings.Contains(stale.header.Get("X-Securechannel-Stale"), "connection refused") || stale.header.Get("Age") == "" {
		t.Errorf("stale status: %d %v", stale.status, stale.header)
	}
	health := get(t, server.URL+"/api/v1/secure-channel/health")
	var why struct {
		Error, Message, Status string
		LastKnown              monitor.HealthStatus `json:"last_known"`
	}
	if health.status != 503 || json.Unmarshal([]byte(health.body), &why) != nil || why.Status != "unhealthy" ||
		!strings.Contains(why.Message, "daemon unreachable") || why.LastKnown.Status != "healthy" {
		t.Errorf("health with the daemon down: %d %s", health.status, health.body)
	}
	if a := get(t, server.URL+"/api/v1/secure-channel/stats"); a.status != 503 || !strings.Contains(a.body, "service_unavailable") {
		t.Errorf("never fetched, so nothing to serve stale: %d %s", a.status, a.body)
	}
	status, err := svc.GetEnhancedStatus(context.Background())
	var staleErr *StaleError
	if status == nil || status.Status != "ok" || !errors.As(err, &staleErr) || staleErr.Age <= 0 {
		t.Errorf("GetEnhancedStatus with the daemon down: %+v %v", status, err)
	}

	daemontest.Eventually(10*time.Second, func() bool { return !svc.Snapshot().Reachable })
	metrics := get(t, server.URL+"/metrics").body
	for _, line := range []string{"securechannel_service_pool_reachable 0", "securechannel_service_pool_healthy 0",
		`securechannel_service_stale_responses_total{endpoint="status"} 1`} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestNewServiceRefusesAMissingPoolUrl(t *testing.T) {
	if _, err := NewService(ServiceConfig{}); err == nil || !strings.Contains(err.Error(), "PoolURL") {
		t.Errorf("no PoolURL: %v", err)
	}
	svc, err := NewService(ServiceConfig{PoolURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	svc.Stop() // before Start: nothing to stop
}
