//go:build cgo

package securechannel

/*
#include <stdlib.h>
#include "securechannel/securechannel.h"

static sc_header* sc_go_header_at(sc_header* headers, size_t index) { return headers + index; }
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
	"unsafe"
)

// roundTripper sends each request through the pool's HttpClient: HTTP/2 streams or HTTP/1.1
// keep-alive over the pool's connections (verified TLS, or plain TCP for a pool with
// tls = false). The URL must name the pool's host and port, with the pool's scheme: https, or
// http for a plain pool (the native side refuses a mismatch, so an https URL never goes out in
// the clear). The request body is read whole first (at most maxRequestBody bytes). The context
// bounds the exchange: its deadline (plus 100 ms) becomes the native request's timeout (default
// 30 s), and its cancellation cancels the native request (sc_call_cancel: an HTTP/2 stream is
// reset, an HTTP/1.1 connection closed) while RoundTrip returns ctx.Err() at once.
type roundTripper struct {
	pool           *Pool
	maxRequestBody int64
}

// pendingRequest is where the callback leaves the outcome.
type pendingRequest struct {
	pool    *Pool
	request *http.Request
	done    chan outcome // buffered: the callback never waits for a RoundTrip that has left
}

type outcome struct {
	response *http.Response
	err      error
}

func (t *roundTripper) RoundTrip(request *http.Request) (*http.Response, error) {
	body, err := readBody(request, t.maxRequestBody)
	if err != nil {
		return nil, err
	}
	if request.URL == nil || (request.URL.Scheme != "https" && request.URL.Scheme != "http") {
		return nil, fmt.Errorf("securechannel: %v: only https and http URLs go through the pool", request.URL)
	}
	if request.Host != "" && request.Host != request.URL.Host {
		return nil, fmt.Errorf("securechannel: Host %q differs from the URL's %q: the pool's host is the URL's", request.Host, request.URL.Host)
	}
	ctx := request.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	native := newNativeRequest(request, body)
	defer native.free()
	if affinity, ok := ctx.Value(affinityContextKey{}).(Affinity); ok && affinity.Key != "" {
		if err := native.setAffinity(affinity); err != nil {
			return nil, err
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		// A little past the deadline, so that the context, not the native timer, ends the wait.
		native.request.timeout_ms = C.uint32_t(timeoutMs(time.Until(deadline) + deadlineMargin))
	}

	pending := &pendingRequest{pool: t.pool, request: request, done: make(chan outcome, 1)}
	// A context that can never end (context.Background) needs no cancellation handle.
	completion, err := t.start(native, pending, ctx.Done() != nil)
	if err != nil {
		return nil, err
	}
	// The call handle outlives the pool safely: cancelling a finished request does nothing.
	defer releaseCompletion(completion)
	select {
	case result := <-pending.done:
		if result.err != nil && ctx.Err() != nil {
			// The native timeout is the context's deadline: the same event, named as Go names it.
			return nil, ctx.Err()
		}
		return result.response, result.err
	case <-ctx.Done():
		cancelRequest(completion)
		return nil, ctx.Err()
	}
}

// start hands the request to the library; the pool's read lock keeps Close from freeing it
// in between, and inFlight counts it until its callback has run.
func (t *roundTripper) start(native *nativeRequest, pending *pendingRequest, cancellable bool) (*nativeCompletion, error) {
	p := t.pool
	p.mutex.RLock()
	defer p.mutex.RUnlock()
	if p.closed {
		return nil, ErrShutDown
	}
	p.inFlight.Add(1)
	completion, err := startRequest(p.client, native.request, native.options, pending, cancellable)
	if err != nil {
		p.inFlight.Done()
		return nil, err
	}
	return completion, nil
}

func goResponse(native *C.sc_response, request *http.Request) *http.Response {
	status := int(C.sc_response_status(native))
	count := int(C.sc_response_header_count(native))
	header := make(http.Header, count)
	for i := 0; i < count; i++ {
		var name, value *C.char
		if C.sc_response_header(native, C.size_t(i), &name, &value) == 0 {
			header.Add(C.GoString(name), C.GoString(value))
		}
	}
	var length C.size_t
	data := C.sc_response_body(native, &length)
	body := C.GoBytes(data, C.int(length))
	version := int(C.sc_response_http_version(native)) // major * 10 + minor
	if outcome := C.GoString(C.sc_response_affinity(native)); outcome != "none" {
		header.Set(AffinityHeader, outcome)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         fmt.Sprintf("HTTP/%d.%d", version/10, version%10),
		ProtoMajor:    version / 10,
		ProtoMinor:    version % 10,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       request,
	}
}

// nativeRequest is an sc_request whose strings live in C memory until free. The sc_request
// itself is C memory too: a Go pointer to it would make cgo's checker look at the whole Go
// object around it, strings slice included.
type nativeRequest struct {
	request *C.sc_request
	options *C.sc_request_options // nil unless the request has options beyond sc_request's
	strings []*C.char
	headers *C.sc_header
	body    unsafe.Pointer
}

func newNativeRequest(request *http.Request, body []byte) *nativeRequest {
	n := &nativeRequest{request: (*C.sc_request)(C.calloc(1, C.size_t(unsafe.Sizeof(C.sc_request{}))))}
	if n.request == nil {
		panic("securechannel: out of memory for a request") // as Go's own allocations do
	}
	method := request.Method
	if method == "" {
		method = http.MethodGet
	}
	n.request.method = n.cString(method)
	n.request.url = n.cString(request.URL.String())
	count := 0
	for _, values := range request.Header {
		count += len(values)
	}
	if count > 0 {
		n.headers = (*C.sc_header)(C.malloc(C.size_t(count) * C.size_t(unsafe.Sizeof(C.sc_header{}))))
		i := 0
		for name, values := range request.Header {
			for _, value := range values {
				slot := C.sc_go_header_at(n.headers, C.size_t(i))
				slot.name, slot.value = n.cString(name), n.cString(value)
				i++
			}
		}
		n.request.headers = n.headers
		n.request.header_count = C.size_t(count)
	}
	if len(body) > 0 {
		n.body = C.CBytes(body)
		n.request.body = n.body
		n.request.body_length = C.size_t(len(body))
	}
	return n
}

func (n *nativeRequest) setAffinity(affinity Affinity) error {
	if strings.IndexByte(affinity.Key, 0) >= 0 {
		// C strings end at the first NUL: "a\x00b" and "a\x00c" would be one key.
		return &Error{Code: codeInvalidArgument, Name: "invalid_argument", Message: "an affinity key must not hold a NUL byte"}
	}
	n.options = C.sc_request_options_new()
	if n.options == nil {
		panic("securechannel: out of memory for request options")
	}
	mayMove := C.int(0)
	if affinity.MayMove {
		mayMove = 1
	}
	var failure C.sc_error
	if C.sc_request_options_set_affinity(n.options, n.cString(affinity.Key), mayMove, &failure) != 0 {
		return errorOf(&failure)
	}
	return nil
}

func (n *nativeRequest) cString(s string) *C.char {
	c := C.CString(s)
	n.strings = append(n.strings, c)
	return c
}

func (n *nativeRequest) free() {
	for _, s := range n.strings {
		C.free(unsafe.Pointer(s))
	}
	C.free(unsafe.Pointer(n.headers))
	C.free(n.body)
	C.sc_request_options_free(n.options)
	C.free(unsafe.Pointer(n.request))
}

func readBody(request *http.Request, limit int64) ([]byte, error) {
	if request.Body == nil || request.Body == http.NoBody {
		return nil, nil
	}
	defer request.Body.Close()
	body, err := io.ReadAll(io.LimitReader(request.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("securechannel: reading the request body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, errors.New("securechannel: the request body is larger than the round tripper's limit")
	}
	return body, nil
}

// deadlineMargin is how long the native exchange outlives the context's deadline.
const deadlineMargin = 100 * time.Millisecond

// timeoutMs is a remaining time as the native request's timeout: at least 1 ms (0 would mean
// the 30 s default), at most what fits.
func timeoutMs(remaining time.Duration) uint32 {
	ms := remaining.Milliseconds()
	if ms < 1 {
		return 1
	}
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}
