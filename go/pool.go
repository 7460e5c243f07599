//go:build cgo

package securechannel

/*
#cgo LDFLAGS: -lsecurechannel
#include <stdlib.h>
#include "securechannel/securechannel.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"securechannel/monitor"
)

// Pool is a native securechannel pool with its HTTP client. Safe for concurrent use; Close it
// when done (requests still in flight after its grace then fail with ErrShutDown).
type Pool struct {
	mutex    sync.RWMutex // held shared while a request starts, exclusively by Close
	closed   bool
	pool     *C.sc_pool
	client   *C.sc_http_client
	inFlight sync.WaitGroup // requests whose callback has not run yet

	roundTripper *roundTripper
}

// NewPool builds the pool and starts its I/O threads; connections open on demand, or ahead
// with WarmUp. A configuration mistake is an error with ErrConfig naming every one.
func NewPool(config *PoolConfig) (*Pool, error) {
	if config == nil {
		return nil, errors.New("securechannel: NewPool(nil)")
	}
	var failure C.sc_error
	native, err := nativeConfig(config)
	if err != nil {
		return nil, err
	}
	defer C.sc_pool_config_free(native)
	pool := C.sc_pool_new(native, &failure)
	if pool == nil {
		return nil, errorOf(&failure)
	}
	client := C.sc_http_client_new(pool, &failure)
	if client == nil {
		C.sc_pool_free(pool)
		return nil, errorOf(&failure)
	}
	p := &Pool{pool: pool, client: client}
	p.roundTripper = &roundTripper{pool: p, maxRequestBody: 64 << 20}
	return p, nil
}

func nativeConfig(config *PoolConfig) (*C.sc_pool_config, error) {
	var failure C.sc_error
	var native *C.sc_pool_config
	if config.file != "" {
		path := C.CString(config.file)
		defer C.free(unsafe.Pointer(path))
		var namespace *C.char
		if config.namespace != "" {
			namespace = C.CString(config.namespace)
			defer C.free(unsafe.Pointer(namespace))
		}
		if native = C.sc_pool_config_load_file(path, namespace, &failure); native == nil {
			return nil, errorOf(&failure)
		}
	} else {
		endpoint := C.CString(config.endpoint)
		defer C.free(unsafe.Pointer(endpoint))
		if native = C.sc_pool_config_new(endpoint); native == nil {
			return nil, &Error{Code: 1, Name: "invalid_argument", Message: "no endpoint"}
		}
	}
	var mistakes []string
	for _, s := range config.settings {
		if err := apply(native, s); err != nil {
			mistakes = append(mistakes, err.Error())
		}
	}
	if C.sc_pool_config_check(native, &failure) != 0 {
		mistakes = append(mistakes, C.GoString(&failure.message[0]))
	}
	if len(mistakes) > 0 {
		C.sc_pool_config_free(native)
		return nil, &Error{Code: codeConfig, Name: "config", Message: strings.Join(mistakes, "; ")}
	}
	return native, nil
}

func apply(native *C.sc_pool_config, s setting) error {
	var failure C.sc_error
	key := C.CString(s.key)
	defer C.free(unsafe.Pointer(key))
	var code C.int
	switch v := s.value.(type) {
	case string:
		value := C.CString(v)
		defer C.free(unsafe.Pointer(value))
		if s.add {
			code = C.sc_pool_config_add_string(native, key, value, &failure)
		} else {
			code = C.sc_pool_config_set_string(native, key, value, &failure)
		}
	case int64:
		code = C.sc_pool_config_set_int(native, key, C.int64_t(v), &failure)
	case float64:
		code = C.sc_pool_config_set_double(native, key, C.double(v), &failure)
	case bool:
		flag := C.int(0)
		if v {
			flag = 1
		}
		code = C.sc_pool_config_set_bool(native, key, flag, &failure)
	default:
		return fmt.Errorf("%s: a %T is not a value of a pool key (string, integer, float64, bool, time.Duration)", s.key, s.value)
	}
	if code != 0 {
		return errors.New(C.GoString(&failure.message[0]))
	}
	return nil
}

func errorOf(failure *C.sc_error) *Error {
	return &Error{Code: int(failure.code), Name: C.GoString(&failure.name[0]), Message: C.GoString(&failure.message[0])}
}

// RoundTripper sends requests through the pool (see roundTripper); the same one every call.
func (p *Pool) RoundTripper() http.RoundTripper { return p.roundTripper }

// WarmUp opens connections up to min_idle now, without waiting for them.
func (p *Pool) WarmUp() error {
	return p.call(func(failure *C.sc_error) C.int { return C.sc_pool_warm_up(p.pool, failure) })
}

// Status is the pool's status as the monitoring server's /status/connections has it (without
// the http object of an exported client).
func (p *Pool) Status() (*monitor.PoolStatus, error) {
	text, err := p.text(func(failure *C.sc_error) *C.char { return C.sc_pool_status_json(p.pool, failure) })
	if err != nil {
		return nil, err
	}
	var status monitor.PoolStatus
	if err := json.Unmarshal([]byte(text), &status); err != nil {
		return nil, fmt.Errorf("securechannel: the pool's status is not the expected JSON: %w", err)
	}
	return &status, nil
}

// Metrics is the pool's own series in Prometheus text.
func (p *Pool) Metrics() (string, error) {
	return p.text(func(failure *C.sc_error) *C.char { return C.sc_pool_metrics_text(p.pool, failure) })
}

// Close stops taking requests, gives requests in flight up to grace to finish (the rest fail
// with ErrShutDown), waits for every callback, and frees the native pool. Calling it again
// does nothing.
func (p *Pool) Close() error { return p.CloseWithin(5 * time.Second) }

// CloseWithin is Close with its grace.
func (p *Pool) CloseWithin(grace time.Duration) error {
	p.mutex.Lock()
	if p.closed {
		p.mutex.Unlock()
		return nil
	}
	p.closed = true
	p.mutex.Unlock()
	var failure C.sc_error
	var err error
	if C.sc_pool_shutdown(p.pool, C.uint32_t(graceMs(grace)), &failure) != 0 {
		err = errorOf(&failure)
	}
	p.inFlight.Wait()
	C.sc_http_client_free(p.client)
	C.sc_pool_free(p.pool)
	return err
}

// graceMs is a grace in milliseconds, clamped to what sc_pool_shutdown takes (0: none).
func graceMs(grace time.Duration) uint32 {
	if grace <= 0 {
		return 0
	}
	return timeoutMs(grace)
}

// call runs a native call on the open pool.
func (p *Pool) call(native func(*C.sc_error) C.int) error {
	p.mutex.RLock()
	defer p.mutex.RUnlock()
	if p.closed {
		return ErrShutDown
	}
	var failure C.sc_error
	if native(&failure) != 0 {
		return errorOf(&failure)
	}
	return nil
}

func (p *Pool) text(native func(*C.sc_error) *C.char) (string, error) {
	p.mutex.RLock()
	defer p.mutex.RUnlock()
	if p.closed {
		return "", ErrShutDown
	}
	var failure C.sc_error
	text := native(&failure)
	if text == nil {
		return "", errorOf(&failure)
	}
	defer C.sc_string_free(text)
	return C.GoString(text), nil
}
