package securechannel

import "errors"

// Error is a failure the native library reported: Code is its SC_E_* value, Name the stable
// name (invalid_argument, config, or for a failed request the error's name such as
// acquire_timeout, circuit_open, certificate_verify_failed), Message what failed and why.
type Error struct {
	Code    int
	Name    string
	Message string
}

func (e *Error) Error() string { return "securechannel: " + e.Name + ": " + e.Message }

// Is matches ErrShutDown and ErrConfig by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrShutDown:
		return e.Code == codeShutDown
	case ErrConfig:
		return e.Code == codeConfig
	}
	return false
}

var (
	// ErrShutDown: the pool was closed (or is closing); the request was not sent or was cut.
	ErrShutDown = errors.New("securechannel: the pool is shut down")
	// ErrConfig: the configuration has a mistake; the *Error's Message names every one.
	ErrConfig = errors.New("securechannel: configuration mistake")
)

// The SC_E_* codes of securechannel.h this package tests for (the header is the reference).
const (
	codeInvalidArgument = 1
	codeConfig          = 2
	codeShutDown        = 4
)
