//go:build cgo

package securechannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"securechannel/internal/daemontest"
)

func newTestPool(t *testing.T, upstream *daemontest.Upstream, maxConnections int) *Pool {
	t.Helper()
	return newTestPoolSpeaking(t, upstream, maxConnections, "h2")
}

func newTestPoolSpeaking(t *testing.T, upstream *daemontest.Upstream, maxConnections int, alpn string) *Pool {
	t.Helper()
	pool, err := NewPool(NewPoolConfig(upstream.Address).
		Set("max_connections", maxConnections).
		Set("acquire_timeout", 5*time.Second).
		Set("tls.ca_file", upstream.CAFile).
		Add("tls.alpn", alpn).
		Set("io_threads", 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

func TestAThousandConcurrentRequestsShareAFewConnections(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	pool := newTestPool(t, upstream, 4)
	client := &http.Client{Transport: pool.RoundTripper(), Timeout: 30 * time.Second}

	const requests = 1000
	var wait sync.WaitGroup
	failures := make(chan error, requests)
	for i := 0; i < requests; i++ {
		wait.Add(1)
		go func(i int) {
			defer wait.Done()
			response, err := client.Get(fmt.Sprintf("https://%s/n%d", upstream.Address, i))
			if err != nil {
				failures <- err
				return
			}
			body, _ := io.ReadAll(response.Body)
			response.Body.Close()
			if response.StatusCode != 200 || string(body) != fmt.Sprintf("hello /n%d", i) {
				failures <- fmt.Errorf("request %d: %d %q", i, response.StatusCode, body)
			}
		}(i)
	}
	wait.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if got := upstream.Requests.Load(); got != requests {
		t.Errorf("the upstream served %d requests, want %d", got, requests)
	}
	if got := upstream.Connections.Load(); got < 1 || got > 4 {
		t.Errorf("%d connections for %d requests; max_connections is 4", got, requests)
	}
	status, err := pool.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(status.Connections) < 1 || len(status.Connections) > 4 || status.Endpoint != upstream.Address {
		t.Errorf("status: %d connections to %s", len(status.Connections), status.Endpoint)
	}
	for _, connection := range status.Connections {
		if connection.ALPN != "h2" || connection.TLSVersion != "TLSv1.3" {
			t.Errorf("connection %d: ALPN %q, %s", connection.ConnectionID, connection.ALPN, connection.TLSVersion)
		}
	}
	metrics, err := pool.Metrics()
	if err != nil || !strings.Contains(metrics, "_connections_created_total{") {
		t.Errorf("metrics: %v\n%s", err, metrics)
	}
}

func TestMethodHeadersAndBodyReachTheUpstream(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	pool := newTestPool(t, upstream, 2)
	request, _ := http.NewRequest(http.MethodPost, "https://"+upstream.Address+"/echo", strings.NewReader("ping body"))
	request.Header.Set("X-Test", "seen")
	response, err := pool.RoundTripper().RoundTrip(request)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	if response.StatusCode != 200 || string(body) != "ping body" || response.Header.Get("X-Echo") != "seen" ||
		response.ContentLength != int64(len(body)) {
		t.Errorf("echo: %d %q %v", response.StatusCode, body, response.Header)
	}
	if response.Proto != "HTTP/2.0" || !response.ProtoAtLeast(2, 0) {
		t.Errorf("protocol: %q %d.%d", response.Proto, response.ProtoMajor, response.ProtoMinor)
	}
}

// Every completion, native response and call handle is freed once the requests are over,
// whichever came last: the callback, the dispatcher or a RoundTrip whose context ended first.
func TestNothingNativeIsLeftWhenTheRequestsAreOver(t *testing.T) {
	for _, alpn := range []string{"h2", "http/1.1"} {
		t.Run(alpn, func(t *testing.T) {
			upstream := daemontest.StartUpstream(t)
			pool := newTestPoolSpeaking(t, upstream, 4, alpn)
			var wait sync.WaitGroup
			for i := 0; i < 300; i++ {
				wait.Add(1)
				go func(i int) {
					defer wait.Done()
					ctx := context.Background()
					if i%3 != 0 { // a context that can end, with a call handle
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, time.Duration(i%5)*time.Millisecond+50*time.Microsecond)
						defer cancel()
					}
					request, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s/n%d", upstream.Address, i), nil)
					if response, err := pool.RoundTripper().RoundTrip(request); err == nil {
						response.Body.Close()
					} else if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("request %d: %v", i, err)
					}
				}(i)
			}
			wait.Wait()
			// RoundTrip may return (its context ended) before the native callback has run.
			if !daemontest.Eventually(10*time.Second, func() bool {
				outstanding, live := nativeLeftovers()
				return outstanding == 0 && live == 0
			}) {
				outstanding, live := nativeLeftovers()
				t.Errorf("%d requests still owe a callback, %d completions not freed", outstanding, live)
			}
		})
	}
}

func TestCancellingTheContextCancelsTheNativeRequest(t *testing.T) {
	for _, alpn := range []string{"h2", "http/1.1"} {
		t.Run(alpn, func(t *testing.T) {
			upstream := daemontest.StartUpstream(t)
			pool := newTestPoolSpeaking(t, upstream, 1, alpn)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+upstream.Address+"/slow", nil)
			returned := make(chan error, 1)
			go func() {
				_, err := pool.RoundTripper().RoundTrip(request)
				returned <- err
			}()
			if !daemontest.Eventually(10*time.Second, func() bool { return upstream.Requests.Load() == 1 }) {
				t.Fatal("the request never reached the upstream")
			}
			cancel()
			if err := <-returned; !errors.Is(err, context.Canceled) {
				t.Errorf("RoundTrip after cancel: %v", err)
			}
			// The upstream sees the request go (a reset stream, a closed connection) long before
			// its two-second answer: without the native cancel it would answer, not see it go.
			if !daemontest.Eventually(time.Second, func() bool { return upstream.Abandoned.Load() == 1 }) {
				t.Errorf("the upstream did not see the request cancelled (abandoned %d)", upstream.Abandoned.Load())
			}
			request, _ = http.NewRequest(http.MethodGet, "https://"+upstream.Address+"/after", nil)
			response, err := pool.RoundTripper().RoundTrip(request)
			if err != nil || response.StatusCode != 200 {
				t.Fatalf("the request after the cancel: %v", err)
			}
			// HTTP/2 reset only the stream; HTTP/1.1 gave up the connection.
			want := int64(1)
			if alpn == "http/1.1" {
				want = 2
			}
			if got := upstream.Connections.Load(); got != want {
				t.Errorf("%d connections, want %d", got, want)
			}
		})
	}
}

func TestTheContextEndsTheWaitAndCloseEndsTheRest(t *testing.T) {
	upstream := daemontest.StartUpstream(t)
	pool := newTestPool(t, upstream, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+upstream.Address+"/slow", nil)
	started := time.Now()
	if _, err := pool.RoundTripper().RoundTrip(request); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow request past its deadline: %v", err)
	}
	if waited := time.Since(started); waited > time.Second {
		t.Errorf("RoundTrip returned %v after the deadline", waited)
	}

	// Requests in flight when the pool closes fail; none hangs, none is lost.
	results := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			request, _ := http.NewRequest(http.MethodGet, "https://"+upstream.Address+"/slow", nil)
			_, err := pool.RoundTripper().RoundTrip(request)
			results <- err
		}()
	}
	// Every one of them reached the upstream (the earlier slow request is the first), so Close
	// meets them in flight, not before they start.
	if !daemontest.Eventually(10*time.Second, func() bool { return upstream.Requests.Load() >= 21 }) {
		t.Fatalf("only %d requests reached the upstream", upstream.Requests.Load())
	}
	if err := pool.CloseWithin(0); err != nil {
		t.Errorf("close: %v", err)
	}
	for i := 0; i < 20; i++ {
		if err := <-results; err == nil {
			t.Error("a request in flight at Close succeeded: the 2 s answer came within no grace")
		}
	}
	request, _ = http.NewRequest(http.MethodGet, "https://"+upstream.Address+"/", nil)
	if _, err := pool.RoundTripper().RoundTrip(request); !errors.Is(err, ErrShutDown) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := pool.Status(); !errors.Is(err, ErrShutDown) {
		t.Errorf("status after Close: %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestMistakesAreNamed(t *testing.T) {
	_, err := NewPool(NewPoolConfig("127.0.0.1:443").Set("max_conections", 3).Set("connect_timeout", "5"))
	var native *Error
	if !errors.Is(err, ErrConfig) || !errors.As(err, &native) || !strings.Contains(err.Error(), "max_conections") ||
		!strings.Contains(err.Error(), "connect_timeout") {
		t.Errorf("config mistakes: %v", err)
	}
	if _, err := NewPool(LoadPoolConfig("/nonexistent/pool.toml", "")); err == nil || !strings.Contains(err.Error(), "/nonexistent/pool.toml") {
		t.Errorf("a missing file: %v", err)
	}

	upstream := daemontest.StartUpstream(t)
	pool := newTestPool(t, upstream, 1)
	for url, want := range map[string]string{
		"http://" + upstream.Address + "/": "the pool's connections are TLS (use https://)",
		"ftp://" + upstream.Address + "/":  "only https and http",
		"https://127.0.0.1:1/":             "invalid_argument",
	} {
		request, _ := http.NewRequest(http.MethodGet, url, nil)
		if _, err := pool.RoundTripper().RoundTrip(request); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
	}
}
