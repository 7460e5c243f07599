// Package service is seed 002's secure.Service: a Go service's view of a securechannel daemon.
// It polls the daemon's health in the background, serves the daemon's monitoring API again
// under /api/v1/secure-channel/ with a cache in front, keeps serving the last good answers
// (marked stale) while the daemon is unreachable, and exports its own Prometheus series.
//
//	svc, err := service.NewService(service.ServiceConfig{PoolURL: "http://127.0.0.1:9090", EnableMetrics: true})
//	svc.Start(ctx)
//	defer svc.Stop()
//	http.Handle("/", svc.Handler())
package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechannel/monitor"
)

// ServiceConfig configures a Service. Only PoolURL is required.
type ServiceConfig struct {
	PoolURL   string // the daemon's monitoring address, e.g. http://127.0.0.1:9090
	AuthToken string // the daemon's X-Auth-Token, if it has one
	// CacheTimeout: answers younger than this are served without asking the daemon. Default 2s;
	// a negative value turns the cache off.
	CacheTimeout time.Duration
	// MonitorInterval: how often Start's goroutine polls the daemon's /healthz. Default 15s.
	MonitorInterval time.Duration
	// RequestTimeout bounds one call to the daemon; RetryAttempts retries failed ones (network
	// errors, 408, 429, 500, 502, 503, 504) with jittered backoff. Defaults 5s and 2; a negative RetryAttempts: none.
	RequestTimeout time.Duration
	RetryAttempts  int
	// EnableMetrics serves the service's own series at /metrics of Handler().
	EnableMetrics bool
	// Registry receives the service's series; default: a registry of its own (so two services
	// in one process do not collide), which Handler() serves.
	Registry *prometheus.Registry
	// OnChange, if set, is called with every monitor snapshot that changed something.
	OnChange func(monitor.Snapshot)
	// HTTPClient talks to the daemon (set it for an https PoolURL with a private CA).
	HTTPClient *http.Client
}

// Service is safe for concurrent use.
type Service struct {
	config   ServiceConfig
	client   *monitor.Client
	registry *prometheus.Registry
	metrics  *serviceMetrics

	mutex    sync.Mutex
	lastGood map[string]*monitor.Response // by path and query: what a stale answer serves
	snapshot monitor.Snapshot
	stop     context.CancelFunc
	stopped  chan struct{}
}

// NewService checks the configuration; nothing is sent before Start or a request.
func NewService(config ServiceConfig) (*Service, error) {
	if config.PoolURL == "" {
		return nil, errors.New("service: PoolURL is required (the daemon's monitoring address)")
	}
	if config.CacheTimeout == 0 {
		config.CacheTimeout = 2 * time.Second
	}
	if config.MonitorInterval == 0 {
		config.MonitorInterval = 15 * time.Second
	}
	if config.MonitorInterval < 0 {
		return nil, errors.New("service: MonitorInterval cannot be negative")
	}
	retries := config.RetryAttempts
	if retries == 0 {
		retries = 2
	} else if retries < 0 {
		retries = 0
	}
	cacheTTL := config.CacheTimeout
	if cacheTTL < 0 {
		cacheTTL = 0
	}
	client, err := monitor.NewClient(monitor.ClientConfig{
		BaseURL: config.PoolURL, Timeout: config.RequestTimeout, RetryAttempts: retries,
		UserAgent: "securechannel-go-service/" + monitor.Version, AuthToken: config.AuthToken,
		CacheTTL: cacheTTL, HTTPClient: config.HTTPClient,
	})
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	registry := config.Registry
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	metrics, err := newServiceMetrics(registry, client.CacheStats)
	if err != nil {
		return nil, fmt.Errorf("service: registering its metrics: %w", err)
	}
	return &Service{config: config, client: client, registry: registry, metrics: metrics,
		lastGood: map[string]*monitor.Response{}}, nil
}

// Client is the monitoring client the service uses (cache included).
func (s *Service) Client() *monitor.Client { return s.client }

// Start polls the daemon's health every MonitorInterval until Stop or ctx's end. It returns
// once the first poll is done, so Snapshot() is meaningful at once.
func (s *Service) Start(ctx context.Context) error {
	s.mutex.Lock()
	if s.stop != nil {
		s.mutex.Unlock()
		return errors.New("service: already started")
	}
	ctx, s.stop = context.WithCancel(ctx)
	s.stopped = make(chan struct{})
	stopped := s.stopped
	s.mutex.Unlock()

	first := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(stopped)
		s.client.Monitor(ctx, s.config.MonitorInterval, func(snapshot monitor.Snapshot) {
			s.observe(snapshot)
			once.Do(func() { close(first) })
		})
		once.Do(func() { close(first) })
	}()
	<-first
	return nil
}

// Stop ends the background polling and waits for it. Calling it twice, or before Start, is fine.
func (s *Service) Stop() {
	s.mutex.Lock()
	stop, stopped := s.stop, s.stopped
	s.mutex.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-stopped
}

func (s *Service) observe(snapshot monitor.Snapshot) {
	s.mutex.Lock()
	s.snapshot = snapshot
	s.mutex.Unlock()
	s.metrics.monitorChanges.Inc()
	s.metrics.poolReachable.Set(boolGauge(snapshot.Reachable))
	s.metrics.poolHealthy.Set(boolGauge(snapshot.Reachable && snapshot.Health.PoolHealthy))
	if s.config.OnChange != nil {
		s.config.OnChange(snapshot)
	}
}

// Snapshot is the latest health poll that changed something (zero before Start).
func (s *Service) Snapshot() monitor.Snapshot {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	return s.snapshot
}

// StaleError says the daemon did not answer and the value returned with it is the last good one.
type StaleError struct {
	Age time.Duration // since the daemon gave that answer
	Err error         // why the daemon did not answer now
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("service: serving the daemon's answer of %s ago: %v", e.Age.Round(time.Millisecond), e.Err)
}

func (e *StaleError) Unwrap() error { return e.Err }

// GetEnhancedStatus returns the daemon's enhanced status (cached up to CacheTimeout). When the
// daemon does not answer but answered before, it returns that last answer together with a
// *StaleError saying how old it is and why; with no earlier answer, only the error.
func (s *Service) GetEnhancedStatus(ctx context.Context) (*monitor.EnhancedStatusResponse, error) {
	response, staleErr, err := s.fetch(ctx, "enhanced", "/api/v1/secure-channel/status/enhanced", nil,
		http.StatusOK, http.StatusServiceUnavailable)
	if err != nil {
		return nil, err
	}
	var status monitor.EnhancedStatusResponse
	if err := decodeJSON(response.Body, &status); err != nil {
		return nil, err
	}
	if staleErr != nil {
		return &status, staleErr
	}
	return &status, nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
