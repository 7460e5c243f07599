package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// document fetches a JSON document of type T.
func document[T any](ctx context.Context, c *Client, path string, query url.Values, documented ...int) (*T, error) {
	var value T
	if _, err := c.getJSON(ctx, path, query, &value, documented...); err != nil {
		return nil, err
	}
	return &value, nil
}

// GetPoolStatus returns the selected pool and every connection it holds.
func (c *Client) GetPoolStatus(ctx context.Context) (*PoolStatus, error) {
	return document[PoolStatus](ctx, c, "/api/v1/secure-channel/status", c.Selection())
}

// GetHealthStatus returns the selected pool's health. An unhealthy pool is an answer, not an
// error: the server's 503 carries the same document, with Status "unhealthy" and, while connects
// fail, LastConnectError.
func (c *Client) GetHealthStatus(ctx context.Context) (*HealthStatus, error) {
	return document[HealthStatus](ctx, c, "/api/v1/secure-channel/health", c.Selection(), http.StatusOK,
		http.StatusServiceUnavailable)
}

// GetHealthSummary returns /healthz: the verdict over every pool, with each pool's health
// (200 and 503 both carry it).
func (c *Client) GetHealthSummary(ctx context.Context) (*HealthSummary, error) {
	return c.healthSummary(ctx, "/healthz", fetch{cache: true, retry: true})
}

// GetReadiness returns /readyz: like GetHealthSummary, with Ready saying whether every pool
// has its warm connections.
func (c *Client) GetReadiness(ctx context.Context) (*HealthSummary, error) {
	return c.healthSummary(ctx, "/readyz", fetch{cache: true, retry: true})
}

func (c *Client) healthSummary(ctx context.Context, path string, how fetch) (*HealthSummary, error) {
	target := c.target(path, nil)
	response, err := c.get(ctx, target, how, []int{http.StatusOK, http.StatusServiceUnavailable})
	if err != nil {
		return nil, err
	}
	var summary HealthSummary
	if err := json.Unmarshal(response.Body, &summary); err != nil {
		return nil, &DecodeError{URL: target, Err: err}
	}
	return &summary, nil
}

// GetConnections lists the selected pool's connections.
func (c *Client) GetConnections(ctx context.Context) (*ConnectionList, error) {
	return document[ConnectionList](ctx, c, "/api/v1/secure-channel/connections", c.Selection())
}

// ConnectionQuery asks for one sorted page of a pool's connections. Sort is a connection field:
// connection_id, state, created, last_activity, leases, round_trips, errors or p95_latency_ms.
// Limit 0 means the server's maximum (1000).
type ConnectionQuery struct {
	Sort       string
	Descending bool
	Offset     int
	Limit      int
}

// GetConnectionPage returns one sorted page of the selected pool's connections; Count is still
// the pool's number of connections. A sort field or limit the server refuses is an APIError
// (400) naming it.
func (c *Client) GetConnectionPage(ctx context.Context, query ConnectionQuery) (*ConnectionList, error) {
	values := c.Selection()
	if values == nil {
		values = url.Values{}
	}
	if query.Sort != "" {
		values.Set("sort", query.Sort)
	}
	order := "asc"
	if query.Descending {
		order = "desc"
	}
	values.Set("order", order)
	values.Set("offset", strconv.Itoa(query.Offset))
	if query.Limit > 0 {
		values.Set("limit", strconv.Itoa(query.Limit))
	}
	return document[ConnectionList](ctx, c, "/api/v1/secure-channel/connections", values)
}

// GetDashboard returns every pool's figures as the dashboard page shows them, with each pool's
// 15-minute history.
func (c *Client) GetDashboard(ctx context.Context) (*Dashboard, error) {
	return document[Dashboard](ctx, c, "/api/v1/secure-channel/dashboard", nil)
}

// GetConnection returns one connection of the selected pool; an id the pool does not hold (any
// more) is an error that errors.Is(err, ErrNotFound).
func (c *Client) GetConnection(ctx context.Context, id uint64) (*ConnectionStatus, error) {
	path := "/api/v1/secure-channel/connections/" + strconv.FormatUint(id, 10)
	return document[ConnectionStatus](ctx, c, path, c.Selection())
}

// GetStats returns the selected pool's aggregates since it was created.
func (c *Client) GetStats(ctx context.Context) (*PoolStatistics, error) {
	return document[PoolStatistics](ctx, c, "/api/v1/secure-channel/stats", c.Selection())
}

// GetEnhancedStatus returns seed 002's enhanced status over every pool. A server whose pools are
// all down answers 503 with the same document (Status "down"): that is returned, not an error.
func (c *Client) GetEnhancedStatus(ctx context.Context) (*EnhancedStatusResponse, error) {
	return document[EnhancedStatusResponse](ctx, c, "/api/v1/secure-channel/status/enhanced", nil, http.StatusOK,
		http.StatusServiceUnavailable)
}

// GetPools lists the pools the server monitors.
func (c *Client) GetPools(ctx context.Context) (*PoolList, error) {
	return document[PoolList](ctx, c, "/api/v1/secure-channel/pools", nil)
}

// Metrics is a Prometheus text exposition, raw and parsed.
type Metrics struct {
	Text     string
	Families map[string]*dto.MetricFamily // by metric family name
}

// GetMetrics returns /metrics: every pool's series, parsed with Prometheus's own text parser.
func (c *Client) GetMetrics(ctx context.Context) (*Metrics, error) {
	return c.metrics(ctx, "/metrics", nil)
}

// GetPoolMetrics returns the selected pool's series only (/api/v1/secure-channel/metrics).
func (c *Client) GetPoolMetrics(ctx context.Context) (*Metrics, error) {
	return c.metrics(ctx, "/api/v1/secure-channel/metrics", c.Selection())
}

func (c *Client) metrics(ctx context.Context, path string, query url.Values) (*Metrics, error) {
	target := c.target(path, query)
	response, err := c.get(ctx, target, fetch{cache: true, retry: true}, nil)
	if err != nil {
		return nil, err
	}
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(response.Body)))
	if err != nil {
		return nil, &DecodeError{URL: target, Err: err}
	}
	return &Metrics{Text: string(response.Body), Families: families}, nil
}
