package monitor

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// backoff is exponential with full jitter (a uniformly random wait in [0, base·2^attempt],
// capped), as AWS's "Exponential Backoff And Jitter" recommends: clients that failed together
// do not come back together.
func backoff(attempt int, base, limit time.Duration) time.Duration {
	ceiling := base << attempt
	if ceiling <= 0 || ceiling > limit {
		ceiling = limit
	}
	jitterMutex.Lock()
	defer jitterMutex.Unlock()
	return time.Duration(jitter.Int63n(int64(ceiling) + 1))
}

// Go 1.19's global math/rand source starts from the same seed in every process: processes
// restarted together would back off in step. This one is seeded per process.
var (
	jitterMutex sync.Mutex
	jitter      = rand.New(rand.NewSource(time.Now().UnixNano()))
)

// sleep waits d or until ctx ends, whichever is first; it reports ctx's error in the latter case.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// retryable says whether a GET that failed this way may succeed if sent again: the network
// failed, or the server said it is overloaded or restarting. A 4xx is the caller's mistake and
// a cancelled context is the caller's decision: neither is retried.
func retryable(ctx context.Context, statusCode int, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	switch statusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError:
		return true
	}
	return false
}

// retryAfter is how long a 429 or 503 asks the client to wait before the next request
// (Retry-After, RFC 9110 §10.2.3: seconds or an HTTP date); 0 when the answer gives none. The
// monitoring server sends it with 429 while it slows down token guesses from an address.
func retryAfter(statusCode int, header http.Header, now time.Time) time.Duration {
	if statusCode != http.StatusTooManyRequests && statusCode != http.StatusServiceUnavailable {
		return 0
	}
	value := strings.TrimSpace(header.Get("Retry-After"))
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseUint(value, 10, 32); err == nil {
		return time.Duration(seconds) * time.Second
	}
	if when, err := http.ParseTime(value); err == nil && when.After(now) {
		return when.Sub(now)
	}
	return 0
}
