package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"securechannel/internal/daemontest"
	"securechannel/service"
)

func TestStatusCarriesTheDaemonsEnhancedStatusAndTurnsStaleWhenItStops(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	daemon := daemontest.StartDaemon(t, upstream, daemontest.DaemonConfig{})
	svc, err := service.NewService(service.ServiceConfig{PoolURL: daemon.MonitorURL, CacheTimeout: -1, RetryAttempts: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	server := httptest.NewServer(newMux(svc, "Bitcoin Sprint"))
	defer server.Close()

	read := func() (int, sprintStatus) {
		response, err := http.Get(server.URL + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer response.Body.Close()
		var status sprintStatus
		if err := json.NewDecoder(response.Body).Decode(&status); err != nil {
			t.Fatal(err)
		}
		return response.StatusCode, status
	}
	code, status := read()
	if code != 200 || status.Status != "ok" || status.Stale || status.SecureChannel == nil ||
		len(status.SecureChannel.Pools) != 1 || status.SecureChannel.Pools[0].Endpoint != upstream.Address ||
		time.Since(status.SecureChannel.Timestamp) > time.Minute {
		t.Fatalf("/status: %d %+v", code, status)
	}
	daemon.Stop()
	code, status = read()
	if code != 503 || !status.Stale || status.StaleReason == "" || status.SecureChannel == nil {
		t.Errorf("/status with the daemon stopped: %d %+v", code, status)
	}
}
