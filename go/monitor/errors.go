package monitor

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrUnauthorized: the server wants an X-Auth-Token and the client sent none or a wrong one
	// (HTTP 401). errors.Is(err, ErrUnauthorized) holds for the *APIError that says so.
	ErrUnauthorized = errors.New("monitor: unauthorized: X-Auth-Token missing or wrong")
	// ErrNotFound: no such endpoint, connection id or pool (HTTP 404).
	ErrNotFound = errors.New("monitor: not found")
	// ErrUnavailable: the server is up but answered 5xx (overloaded, failing, or a pool is down
	// on an endpoint whose 503 carries no document).
	ErrUnavailable = errors.New("monitor: server unavailable")
)

// APIError is an HTTP answer the client cannot use: a status other than the endpoint's
// documented ones. Code and Message are the server's JSON error body when it sent one.
type APIError struct {
	Method     string
	URL        string
	StatusCode int
	Code       string // the server's `error`, e.g. "unauthorized"; empty when the body was not JSON
	Message    string // the server's `message`, or the start of the body
}

func (e *APIError) Error() string {
	detail := e.Message
	if e.Code != "" {
		detail = e.Code + ": " + e.Message
	}
	return fmt.Sprintf("monitor: %s %s: HTTP %d %s: %s", e.Method, e.URL, e.StatusCode,
		http.StatusText(e.StatusCode), detail)
}

// Is lets errors.Is match the sentinel errors by status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnavailable:
		return e.StatusCode >= 500
	}
	return false
}

// NetworkError is a request that got no HTTP answer: refused, reset, timed out, TLS refused.
// It wraps the cause, so errors.Is(err, context.DeadlineExceeded) and errors.As(err, &opErr)
// with a *net.OpError work through it.
type NetworkError struct {
	Method   string
	URL      string
	Attempts int // requests sent, retries included
	Err      error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("monitor: %s %s: no answer after %d attempt(s): %v", e.Method, e.URL, e.Attempts, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// DecodeError is a 2xx answer whose body is not the JSON document the endpoint promises.
type DecodeError struct {
	URL string
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("monitor: GET %s: the body is not the expected JSON: %v", e.URL, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
