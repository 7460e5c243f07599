// Filling the C ABI's sc_error (securechannel.h) and the per-thread copy sc_last_error() returns.
#pragma once

#include "securechannel/securechannel.h"

#include <boost/system/error_code.hpp>

#include <string_view>

namespace securechannel::c_api {

// Sets `error` (when not NULL) and the thread's last error; returns `code` for `return fail(...)`.
int fail(sc_error* error, int code, std::string_view name, std::string_view message) noexcept;
// A library error: SC_E_REQUEST, or SC_E_SHUT_DOWN for shutting_down, named as in the metrics.
int fail(sc_error* error, const boost::system::error_code& failure, std::string_view message) noexcept;
// Marks `error` (when not NULL) as success.
int succeed(sc_error* error) noexcept;
// Inside a catch block: out of memory, or an internal error with the exception's text.
int fail_with_current_exception(sc_error* error) noexcept;

}  // namespace securechannel::c_api
