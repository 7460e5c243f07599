// Package monitor is a typed client of the securechannel monitoring API: `scpool serve`'s
// monitoring address, or any program that runs a MonitoringServer (docs/MONITORING.md).
//
//	client, err := monitor.NewClient(monitor.ClientConfig{BaseURL: "http://127.0.0.1:9090"})
//	status, err := client.GetPoolStatus(ctx)
//
// Every call takes a context and honours its deadline and cancellation, including between
// retries. Failures are typed: *APIError (an HTTP status the endpoint does not document, with
// the server's JSON error; errors.Is with ErrUnauthorized, ErrNotFound, ErrUnavailable),
// *NetworkError (no answer; wraps the cause) and *DecodeError (a body that is not the promised
// document).
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is this module's version, sent in the default User-Agent.
const Version = "0.1.0"

// ClientConfig configures a Client. Only BaseURL is required.
type ClientConfig struct {
	BaseURL string // http://127.0.0.1:9090 or https://...; a path prefix is kept
	// Timeout bounds each attempt (connect, request, whole body); default 5s. The caller's
	// context bounds the call as a whole, retries included.
	Timeout time.Duration
	// RetryAttempts is how many times a call is sent again after a network failure or a 408,
	// 429, 500, 502, 503 or 504 that is not the endpoint's documented answer. Every call of this
	// client is a GET, so every call is idempotent and may be retried. 0: no retry.
	RetryAttempts int
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff with full jitter between
	// attempts: attempt n waits a random time in [0, min(RetryMaxDelay, RetryBaseDelay·2^n)].
	// Defaults 100ms and 2s. A 429 or 503 with Retry-After waits at least that long; one asking
	// for more than RetryMaxDelay is not retried.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	UserAgent      string // default "securechannel-go-monitor/<Version>"
	AuthToken      string // sent as X-Auth-Token; never in a URL
	// CacheTTL keeps each successful answer this long, per path and query (at most 1024), so
	// that callers polling often (dashboards, health checks of health checks) reach the server
	// once per TTL, not once per call (concurrent misses are not merged). Cached answers are
	// shared: treat Header and Body as read-only. 0: no cache. Monitor never reads the cache.
	CacheTTL time.Duration
	// Pool and Endpoint select one pool of a multi-pool server (?pool=, ?endpoint=) for the
	// per-pool calls; empty: the server's first pool.
	Pool     string
	Endpoint string
	// MaxBodyBytes bounds a response body; a larger one fails with a *DecodeError.
	// Default 64 MiB (a pool of 10,000 connections lists in about 4 MiB).
	MaxBodyBytes int64
	// HTTPClient sends the requests; default: a client of its own with keep-alive that follows
	// no redirect. Set it to trust a private CA for an https BaseURL; its Timeout applies too,
	// and so does its redirect policy (Go's default forwards X-Auth-Token to the new host).
	HTTPClient *http.Client
}

// Client calls one monitoring server. It is safe for concurrent use.
type Client struct {
	config ClientConfig
	base   *url.URL
	http   *http.Client

	cacheMutex sync.Mutex
	cache      map[string]*Response
	cacheHits  atomic.Uint64
	cacheMiss  atomic.Uint64
}

// Response is one answer of the server, as received (or as cached).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	FetchedAt  time.Time // when the server answered
	FromCache  bool
	Attempts   int // requests sent for it, retries included; 0 when from the cache
}

// NewClient checks the configuration and returns a client; it sends nothing yet.
func NewClient(config ClientConfig) (*Client, error) {
	base, err := url.Parse(config.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("monitor: BaseURL %q: %w", config.BaseURL, err)
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("monitor: BaseURL %q: the scheme must be http or https", config.BaseURL)
	}
	if base.Host == "" {
		return nil, fmt.Errorf("monitor: BaseURL %q: no host", config.BaseURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("monitor: BaseURL %q: a query or fragment has no place here (use Pool, Endpoint)", config.BaseURL)
	}
	if config.RetryAttempts < 0 || config.Timeout < 0 || config.CacheTTL < 0 || config.RetryBaseDelay < 0 ||
		config.RetryMaxDelay < 0 || config.MaxBodyBytes < 0 {
		return nil, errors.New("monitor: RetryAttempts, Timeout, CacheTTL, RetryBaseDelay, RetryMaxDelay and MaxBodyBytes cannot be negative")
	}
	if config.Timeout == 0 {
		config.Timeout = 5 * time.Second
	}
	if config.RetryBaseDelay == 0 {
		config.RetryBaseDelay = 100 * time.Millisecond
	}
	if config.RetryMaxDelay == 0 {
		config.RetryMaxDelay = 2 * time.Second
	}
	if config.UserAgent == "" {
		config.UserAgent = "securechannel-go-monitor/" + Version
	}
	if config.MaxBodyBytes == 0 {
		config.MaxBodyBytes = 64 << 20
	}
	httpClient := config.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{
			// A redirect would carry X-Auth-Token to wherever it points: the monitoring API
			// never redirects, so a redirect is answered as the status it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               nil, // a sidecar's monitoring address is local: never through a proxy
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     90 * time.Second,
			}}
	}
	base.Path = strings.TrimRight(base.Path, "/")
	return &Client{config: config, base: base, http: httpClient, cache: map[string]*Response{}}, nil
}

// Config returns the configuration in force, defaults filled in.
func (c *Client) Config() ClientConfig { return c.config }

// CacheStats reports the cache's hits and misses since the client was made.
func (c *Client) CacheStats() (hits, misses uint64) { return c.cacheHits.Load(), c.cacheMiss.Load() }

// InvalidateCache forgets every cached answer.
func (c *Client) InvalidateCache() {
	c.cacheMutex.Lock()
	c.cache = map[string]*Response{}
	c.cacheMutex.Unlock()
}

// Get sends GET path?query and returns the answer when its status is one of documented
// (default: 200); any other status is an *APIError. It is the building block of the typed calls,
// for a caller that wants the bytes as the server sent them (a proxy, see package service).
// A nil query sends none; Selection() is the client's pool selection.
func (c *Client) Get(ctx context.Context, path string, query url.Values, documented ...int) (*Response, error) {
	return c.get(ctx, c.target(path, query), fetch{cache: true, retry: true}, documented)
}

// Selection is the query that selects the configured pool (?pool=, ?endpoint=), or nil.
func (c *Client) Selection() url.Values {
	if c.config.Pool == "" && c.config.Endpoint == "" {
		return nil
	}
	query := url.Values{}
	if c.config.Pool != "" {
		query.Set("pool", c.config.Pool)
	}
	if c.config.Endpoint != "" {
		query.Set("endpoint", c.config.Endpoint)
	}
	return query
}

func (c *Client) target(path string, query url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	return u.String()
}

// fetch says how a call may be served: from the cache, with retries.
type fetch struct {
	cache bool
	retry bool
}

func (c *Client) get(ctx context.Context, target string, how fetch, documented []int) (*Response, error) {
	if len(documented) == 0 {
		documented = []int{http.StatusOK}
	}
	useCache := how.cache && c.config.CacheTTL > 0
	if useCache {
		if cached := c.cached(target); cached != nil && isDocumented(cached.StatusCode, documented) {
			c.cacheHits.Add(1)
			return cached, nil
		}
		c.cacheMiss.Add(1)
	}

	var lastErr error
	for attempt := 0; ; attempt++ {
		response, err := c.attempt(ctx, target)
		var tooLarge *DecodeError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		if err == nil {
			response.Attempts = attempt + 1
			// A 503 documents an unhealthy pool on some endpoints, but the server's transport can
			// also answer 503 with an error body (overloaded): that one is an error.
			if isDocumented(response.StatusCode, documented) &&
				(response.StatusCode == http.StatusOK || !isErrorBody(response.Body)) {
				if useCache {
					c.store(target, response)
				}
				return response, nil
			}
			lastErr = apiError(target, response)
		} else {
			lastErr = &NetworkError{Method: http.MethodGet, URL: target, Attempts: attempt + 1, Err: err}
		}
		statusCode := 0
		if response != nil {
			statusCode = response.StatusCode
		}
		if !how.retry || attempt >= c.config.RetryAttempts || !retryable(ctx, statusCode, err) {
			return nil, lastErr
		}
		wait := backoff(attempt, c.config.RetryBaseDelay, c.config.RetryMaxDelay)
		if response != nil {
			// The server's own wait comes first. One longer than RetryMaxDelay ends the call: a
			// retry sooner would be refused again, and a later one is the caller's decision.
			hint := retryAfter(statusCode, response.Header, time.Now())
			if hint > c.config.RetryMaxDelay {
				return nil, lastErr
			}
			if hint > wait {
				wait = hint
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, &NetworkError{Method: http.MethodGet, URL: target, Attempts: attempt + 1,
				Err: fmt.Errorf("%w (while waiting to retry after: %v)", err, lastErr)}
		}
	}
}

func isErrorBody(body []byte) bool {
	var e ErrorBody
	return json.Unmarshal(body, &e) == nil && e.Error != ""
}

func isDocumented(status int, documented []int) bool {
	for _, s := range documented {
		if s == status {
			return true
		}
	}
	return false
}

// attempt sends one request and reads the whole body within the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, target string) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.config.Timeout)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	request.Header.Set("Accept", "application/json, text/plain;q=0.9")
	request.Header.Set("User-Agent", c.config.UserAgent)
	if c.config.AuthToken != "" {
		request.Header.Set("X-Auth-Token", c.config.AuthToken)
	}
	answer, err := c.http.Do(request)
	if err != nil {
		return nil, err
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(io.LimitReader(answer.Body, c.config.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > c.config.MaxBodyBytes {
		// Not retryable: the same server sends the same size again.
		return &Response{StatusCode: answer.StatusCode, Header: answer.Header, FetchedAt: time.Now()},
			&DecodeError{URL: target, Err: fmt.Errorf("body larger than MaxBodyBytes (%d)", c.config.MaxBodyBytes)}
	}
	return &Response{StatusCode: answer.StatusCode, Header: answer.Header, Body: body, FetchedAt: time.Now()}, nil
}

func apiError(target string, response *Response) *APIError {
	e := &APIError{Method: http.MethodGet, URL: target, StatusCode: response.StatusCode}
	var body ErrorBody
	if json.Unmarshal(response.Body, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Error, body.Message
	} else {
		text := strings.TrimSpace(string(response.Body))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		e.Message = text
	}
	return e
}

func (c *Client) cached(target string) *Response {
	c.cacheMutex.Lock()
	defer c.cacheMutex.Unlock()
	entry, ok := c.cache[target]
	if !ok {
		return nil
	}
	if time.Since(entry.FetchedAt) >= c.config.CacheTTL {
		delete(c.cache, target)
		return nil
	}
	copied := *entry
	copied.FromCache = true
	copied.Attempts = 0
	return &copied
}

// maxCacheEntries bounds the cache: targets come from callers (connection ids, pool names).
const maxCacheEntries = 1024

func (c *Client) store(target string, response *Response) {
	c.cacheMutex.Lock()
	defer c.cacheMutex.Unlock()
	if _, present := c.cache[target]; !present && len(c.cache) >= maxCacheEntries {
		for key, entry := range c.cache { // expired ones first; else any one
			if time.Since(entry.FetchedAt) >= c.config.CacheTTL {
				delete(c.cache, key)
			}
		}
		for key := range c.cache {
			if len(c.cache) < maxCacheEntries {
				break
			}
			delete(c.cache, key)
		}
	}
	c.cache[target] = response
}

// getJSON fetches a document and decodes it into out.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out interface{}, documented ...int) (*Response, error) {
	target := c.target(path, query)
	response, err := c.get(ctx, target, fetch{cache: true, retry: true}, documented)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(response.Body, out); err != nil {
		return nil, &DecodeError{URL: target, Err: err}
	}
	return response, nil
}
