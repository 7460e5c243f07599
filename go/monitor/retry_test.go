package monitor

import (
	"context"
	"errors"
	"net/http"
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
