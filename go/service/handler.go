package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"securechannel/monitor"
)

const apiPrefix = "/api/v1/secure-channel/"

// route is one endpoint of the daemon's API that the service serves again.
type route struct {
	label      string // the metrics' endpoint label
	documented []int  // statuses whose body is the endpoint's document
}

var routes = map[string]route{
	"/api/v1/secure-channel/status":          {"status", []int{http.StatusOK}},
	"/api/v1/secure-channel/status/enhanced": {"enhanced", []int{http.StatusOK, http.StatusServiceUnavailable}},
	"/api/v1/secure-channel/health":          {"health", []int{http.StatusOK, http.StatusServiceUnavailable}},
	"/api/v1/secure-channel/connections":     {"connections", []int{http.StatusOK}},
	"/api/v1/secure-channel/stats":           {"stats", []int{http.StatusOK}},
	"/api/v1/secure-channel/metrics":         {"pool_metrics", []int{http.StatusOK}},
	"/api/v1/secure-channel/pools":           {"pools", []int{http.StatusOK}},
}

// maxLastGood bounds the copies kept for stale answers (one per path and pool selection;
// connection ids come and go, so the oldest copy makes room).
const maxLastGood = 1024

// Handler serves, for GET and HEAD:
//
//	/api/v1/secure-channel/{status,status/enhanced,health,connections,connections/{id},stats,metrics,pools}
//	/metrics   the service's own series (with EnableMetrics)
//
// The API answers are the daemon's, byte for byte (the `pool` and `endpoint` query parameters
// are passed on, others dropped). When the daemon does not answer, the last good answer is
// served with `Warning: 110 - "Response is Stale"`, `Age` and `X-Securechannel-Stale: <why>`;
// health then answers 503 with the reason and the last known health instead.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(apiPrefix, s.serveAPI)
	if s.config.EnableMetrics {
		mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no endpoint at "+r.URL.Path)
	})
	return methods(mux)
}

// methods answers 405 to anything but GET and HEAD, as the daemon does.
func methods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not served; use GET or HEAD")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Service) serveAPI(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	path := r.URL.Path
	rt, known := routes[path]
	if !known && strings.HasPrefix(path, apiPrefix+"connections/") {
		id := strings.TrimPrefix(path, apiPrefix+"connections/")
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			s.answer(w, "connection", started, http.StatusBadRequest)
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("connection id %q is not an unsigned integer", id))
			return
		}
		rt, known = route{"connection", []int{http.StatusOK}}, true
	}
	if !known {
		writeError(w, http.StatusNotFound, "not_found", "no endpoint at "+path)
		return
	}
	query := url.Values{}
	for _, name := range []string{"pool", "endpoint"} {
		if value := r.URL.Query().Get(name); value != "" {
			query.Set(name, value)
		}
	}

	response, staleErr, err := s.fetch(r.Context(), rt.label, path, query, rt.documented...)
	switch {
	case r.Context().Err() != nil:
		return // the caller left; nothing to answer, nothing to blame the daemon for
	case err != nil && rt.label == "health" && daemonUnavailable(err):
		s.answer(w, rt.label, started, http.StatusServiceUnavailable)
		s.writeUnreachableHealth(w, path, query, err)
	case err != nil:
		status, code, message := errorAnswer(err)
		s.answer(w, rt.label, started, status)
		writeError(w, status, code, message)
	case staleErr != nil && rt.label == "health":
		// A health check must not say healthy on the strength of an old answer.
		s.answer(w, rt.label, started, http.StatusServiceUnavailable)
		s.writeUnreachableHealth(w, path, query, staleErr.Err)
	default:
		header := w.Header()
		if contentType := response.Header.Get("Content-Type"); contentType != "" {
			header.Set("Content-Type", contentType)
		}
		header.Set("Cache-Control", "no-store")
		if staleErr != nil {
			header.Set("Warning", `110 - "Response is Stale"`)
			header.Set("Age", strconv.Itoa(int(staleErr.Age.Seconds())))
			header.Set("X-Securechannel-Stale", oneLine(staleErr.Err.Error()))
			s.metrics.staleResponses.WithLabelValues(rt.label).Inc()
		}
		s.answer(w, rt.label, started, response.StatusCode)
		w.WriteHeader(response.StatusCode)
		if r.Method != http.MethodHead {
			w.Write(response.Body)
		}
	}
}

func (s *Service) answer(w http.ResponseWriter, label string, started time.Time, status int) {
	s.metrics.requests.WithLabelValues(label, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(label).Observe(time.Since(started).Seconds())
}

// fetch asks the daemon (through the cache); when the daemon cannot answer and an earlier good
// answer exists, that one comes back with a *StaleError. A definitive answer of the daemon (a
// 4xx: unknown pool or connection) is returned as the error it is, never replaced by an old copy.
func (s *Service) fetch(ctx context.Context, label, path string, query url.Values,
	documented ...int) (*monitor.Response, *StaleError, error) {
	key := path + "?" + query.Encode()
	response, err := s.client.Get(ctx, path, query, documented...)
	if err == nil {
		s.mutex.Lock()
		if _, present := s.lastGood[key]; !present && len(s.lastGood) >= maxLastGood {
			s.evictOldestLocked()
		}
		s.lastGood[key] = response
		s.mutex.Unlock()
		return response, nil, nil
	}
	if ctx.Err() != nil {
		return nil, nil, err // the caller left: not the daemon's failure
	}
	s.metrics.upstreamErrors.WithLabelValues(label, errorKind(err)).Inc()
	if !daemonUnavailable(err) {
		return nil, nil, err
	}
	s.mutex.Lock()
	last, ok := s.lastGood[key]
	s.mutex.Unlock()
	if !ok {
		return nil, nil, err
	}
	return last, &StaleError{Age: time.Since(last.FetchedAt), Err: err}, nil
}

func (s *Service) evictOldestLocked() {
	var oldestKey string
	var oldest time.Time
	for key, response := range s.lastGood {
		if oldestKey == "" || response.FetchedAt.Before(oldest) {
			oldestKey, oldest = key, response.FetchedAt
		}
	}
	delete(s.lastGood, oldestKey)
}

// daemonUnavailable: the daemon did not give a verdict on the request (no answer, an overload
// or server error, a body that is not its document), as opposed to a 4xx about the request.
func daemonUnavailable(err error) bool {
	switch errorKind(err) {
	case "not_found", "client_error", "unauthorized":
		return false
	}
	return true
}

func errorKind(err error) string {
	var apiErr *monitor.APIError
	var networkErr *monitor.NetworkError
	var decodeErr *monitor.DecodeError
	switch {
	case errors.Is(err, monitor.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, monitor.ErrNotFound):
		return "not_found"
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusRequestTimeout ||
		apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode >= 500):
		return "server_error" // the daemon's trouble, not the caller's
	case errors.As(err, &apiErr):
		return "client_error"
	case errors.As(err, &networkErr):
		return "network"
	case errors.As(err, &decodeErr):
		return "decode"
	}
	return "other"
}

// errorAnswer maps a failed daemon call to the service's answer: the daemon's own verdict on
// the request (400, 404) is passed on; its refusal of the service's token is the service's
// misconfiguration (502), not the caller's; no answer at all is 503.
func errorAnswer(err error) (status int, code, message string) {
	var apiErr *monitor.APIError
	switch {
	case errors.Is(err, monitor.ErrUnauthorized):
		return http.StatusBadGateway, "bad_gateway", "the daemon refused the service's auth token: " + err.Error()
	case !daemonUnavailable(err) && errors.As(err, &apiErr) && apiErr.Code != "":
		return apiErr.StatusCode, apiErr.Code, apiErr.Message
	case !daemonUnavailable(err) && errors.As(err, &apiErr):
		return apiErr.StatusCode, strings.ReplaceAll(strings.ToLower(http.StatusText(apiErr.StatusCode)), " ", "_"), apiErr.Message
	}
	return http.StatusServiceUnavailable, "service_unavailable", "securechannel daemon unreachable: " + err.Error()
}

// writeUnreachableHealth answers a health check the daemon could not: 503, why, and the last
// health the daemon reported (with its age), if any.
func (s *Service) writeUnreachableHealth(w http.ResponseWriter, path string, query url.Values, cause error) {
	body := map[string]interface{}{
		"error":   "service_unavailable",
		"message": "securechannel daemon unreachable: " + cause.Error(),
		"status":  "unhealthy",
	}
	s.mutex.Lock()
	last, ok := s.lastGood[path+"?"+query.Encode()]
	s.mutex.Unlock()
	if ok {
		body["last_known"] = json.RawMessage(last.Body)
		body["last_known_age_seconds"] = int(time.Since(last.FetchedAt).Seconds())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(monitor.ErrorBody{Error: code, Message: message})
}

func decodeJSON(body []byte, out interface{}) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("service: the daemon's answer is not the expected JSON: %w", err)
	}
	return nil
}

func oneLine(text string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
}
