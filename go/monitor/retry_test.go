package monitor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestBackoffIsJitteredWithinItsCeiling(t *testing.T) {
	for attempt := 0; attempt < 40; attempt++ {
		ceiling := 100 * time.Millisecond << attempt
		if ceiling <= 0 || ceiling > 2*time.Second {
			ceiling = 2 * time.Second
		}
		distinct := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := backoff(attempt, 100*time.Millisecond, 2*time.Second)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempt, d, ceiling)
			}
			distinct[d] = true
		}
		if len(distinct) < 10 {
			t.Errorf("attempt %d: %d distinct waits in 50; jitter expected", attempt, len(distinct))
		}
	}
}

func TestOnlyTransientFailuresAreRetried(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		status int
		err    error
		want   bool
	}{
		{"refused", ctx, 0, errors.New("connection refused"), true},
		{"503 that is not the endpoint's document", ctx, http.StatusServiceUnavailable, nil, true},
		{"502", ctx, http.StatusBadGateway, nil, true},
		{"429", ctx, http.StatusTooManyRequests, nil, true},
		{"401", ctx, http.StatusUnauthorized, nil, false},
		{"404", ctx, http.StatusNotFound, nil, false},
		{"400", ctx, http.StatusBadRequest, nil, false},
		{"the caller cancelled", cancelled, 0, context.Canceled, false},
	}
	for _, c := range cases {
		if got := retryable(c.ctx, c.status, c.err); got != c.want {
			t.Errorf("%s: retryable = %t, want %t", c.name, got, c.want)
		}
	}
}

func TestNewClientNamesWhatIsWrong(t *testing.T) {
	for _, config := range []ClientConfig{
		{BaseURL: ""}, {BaseURL: "ftp://x"}, {BaseURL: "http://"}, {BaseURL: "http://h/?pool=x"},
		{BaseURL: "http://h", RetryAttempts: -1},
	} {
		if _, err := NewClient(config); err == nil {
			t.Errorf("%+v: accepted", config)
		}
	}
}

func TestRetryAfterIsReadInSecondsOrAsADate(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	header := func(value string) http.Header { return http.Header{"Retry-After": []string{value}} }
	cases := []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
	}{
		{"seconds on a 429", http.StatusTooManyRequests, header("3"), 3 * time.Second},
		{"a date on a 503", http.StatusServiceUnavailable, header("Sun, 06 Dec 2026 08:00:07 GMT"), 7 * time.Second},
		{"a date already past", http.StatusTooManyRequests, header("Sun, 06 Dec 2026 07:59:00 GMT"), 0},
		{"none", http.StatusTooManyRequests, http.Header{}, 0},
		{"not a number", http.StatusTooManyRequests, header("soon"), 0},
		{"negative", http.StatusTooManyRequests, header("-1"), 0},
		{"on a 502, which has no such meaning", http.StatusBadGateway, header("3"), 0},
	}
	for _, c := range cases {
		if got := retryAfter(c.status, c.header, now); got != c.want {
			t.Errorf("%s: retryAfter = %v, want %v", c.name, got, c.want)
		}
	}
}

// A server that answers 429 with Retry-After to the first `refusals` requests, then 200.
// It returns the server and a function that lists the times requests arrived.
func slowDownServer(t *testing.T, refusals int, retryAfterSeconds string) (*httptest.Server, func() []time.Time) {
	var mutex sync.Mutex
	var arrivals []time.Time
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mutex.Lock()
		arrivals = append(arrivals, time.Now())
		n := len(arrivals)
		mutex.Unlock()
		if n <= refusals {
			w.Header().Set("Retry-After", retryAfterSeconds)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"too_many_requests","message":"wait"}`))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(server.Close)
	return server, func() []time.Time {
		mutex.Lock()
		defer mutex.Unlock()
		return append([]time.Time(nil), arrivals...)
	}
}

func TestA429IsRetriedNoSoonerThanItsRetryAfter(t *testing.T) {
	server, arrivalTimes := slowDownServer(t, 1, "1")
	client, err := NewClient(ClientConfig{BaseURL: server.URL, RetryAttempts: 2, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	response, err := client.Get(context.Background(), "/anything", nil)
	if err != nil {
		t.Fatalf("after a 429 with Retry-After: 1 the retry should succeed: %v", err)
	}
	arrivals := arrivalTimes()
	if response.Attempts != 2 || len(arrivals) != 2 {
		t.Fatalf("attempts %d, requests %d; want 2 and 2", response.Attempts, len(arrivals))
	}
	// A lower bound only: the backoff alone would have retried within a millisecond.
	if gap := arrivals[1].Sub(arrivals[0]); gap < time.Second {
		t.Errorf("retried %v after a 429 asking for 1s", gap)
	}
}

func TestARetryAfterLongerThanRetryMaxDelayEndsTheCall(t *testing.T) {
	server, arrivalTimes := slowDownServer(t, 1, "120")
	client, err := NewClient(ClientConfig{BaseURL: server.URL, RetryAttempts: 3, RetryMaxDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Get(context.Background(), "/anything", nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "too_many_requests" {
		t.Fatalf("want the 429 as an *APIError, got %v", err)
	}
	if n := len(arrivalTimes()); n != 1 {
		t.Errorf("%d requests; a wait of 120 s beyond RetryMaxDelay should not be retried", n)
	}
}
