// Command sprint is a Go service in the shape of the seeds' Bitcoin Sprint: its /status answers
// with the enhanced status of a running `scpool serve`, and it serves the daemon's monitoring
// API again (cached, stale-tolerant) with its own Prometheus series.
//
//	scpool serve --config scpool.toml &          # monitoring on 127.0.0.1:9090
//	go run ./examples/sprint -pool-url http://127.0.0.1:9090 -listen 127.0.0.1:8080
//	curl http://127.0.0.1:8080/status
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"securechannel/monitor"
	"securechannel/service"
)

// sprintStatus is the service's /status: its own identity around the daemon's enhanced status.
type sprintStatus struct {
	Service       string                          `json:"service"`
	Status        string                          `json:"status"` // ok, degraded, down
	Timestamp     time.Time                       `json:"timestamp"`
	Stale         bool                            `json:"stale"` // the daemon did not answer; SecureChannel is its last answer
	StaleReason   string                          `json:"stale_reason,omitempty"`
	SecureChannel *monitor.EnhancedStatusResponse `json:"secure_channel,omitempty"`
}

// statusHandler answers 200 when the daemon says ok or degraded, 503 when it says down, did not
// answer, or answered only before (stale).
func statusHandler(svc *service.Service, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status := sprintStatus{Service: name, Status: "down", Timestamp: time.Now().UTC()}
		enhanced, err := svc.GetEnhancedStatus(r.Context())
		var stale *service.StaleError
		switch {
		case errors.As(err, &stale):
			status.Stale, status.StaleReason, status.SecureChannel = true, stale.Error(), enhanced
		case err != nil:
			status.StaleReason = err.Error()
		default:
			status.Status, status.SecureChannel = enhanced.Status, enhanced
		}
		w.Header().Set("Content-Type", "application/json")
		if status.Status == "down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(status)
	}
}

func newMux(svc *service.Service, name string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/status", statusHandler(svc, name))
	mux.Handle("/", svc.Handler())
	return mux
}

func main() {
	poolURL := flag.String("pool-url", "http://127.0.0.1:9090", "the daemon's monitoring address")
	listen := flag.String("listen", "127.0.0.1:8080", "address of this service")
	name := flag.String("name", "Bitcoin Sprint", "service name in /status")
	flag.Parse()

	svc, err := service.NewService(service.ServiceConfig{
		PoolURL: *poolURL, AuthToken: os.Getenv("SCPOOL_MONITOR_TOKEN"), EnableMetrics: true,
		OnChange: func(s monitor.Snapshot) {
			for _, change := range s.Changes {
				log.Printf("securechannel: %s", change)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := svc.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer svc.Stop()
	server := &http.Server{Addr: *listen, Handler: newMux(svc, *name), ReadHeaderTimeout: 5 * time.Second}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(shutdown)
	}()
	log.Printf("sprint: http://%s/status (securechannel daemon at %s)", *listen, *poolURL)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-drained // ListenAndServe returns as Shutdown starts; let the requests in flight finish
}
