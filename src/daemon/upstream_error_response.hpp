// The http listener's own answers: a JSON body {"error": "<name>", "message": "..."}, the shape
// the monitoring server's errors have, so that a client parses one format. For a failed upstream
// exchange the status says whose turn it is (RFC 9110 15.6): 503 the pool would not try now,
// 504 the upstream took too long, 502 the upstream (or the way to it) failed.
//
//   HttpResponse answer = upstream_error_response(errc::circuit_open);
//   // 503 {"error":"circuit_open","message":"the circuit breaker is open: ..."}
#pragma once

#include "securechannel/http_message.hpp"

#include <boost/system/error_code.hpp>

#include <string_view>

namespace securechannel::daemon {

// A response of `status` with the JSON error body, Content-Type and Cache-Control: no-store.
HttpResponse json_error_response(unsigned status, std::string_view error, std::string_view message);

// 503 circuit_open, acquire_timeout, pool_exhausted, shutting_down; 504 request_timeout;
// 400 invalid_request (the local request cannot be sent as it is); 502 everything else.
unsigned upstream_error_status(const boost::system::error_code& error) noexcept;

// json_error_response(upstream_error_status(error), error_kind(error), ...).
HttpResponse upstream_error_response(const boost::system::error_code& error);
// 503 no_endpoint: every endpoint of the pool (and of its backup) is ejected.
HttpResponse no_endpoint_response();

// Whether another endpoint may succeed where this error failed: not when the request's own time
// is spent (request_timeout), the request itself is at fault (invalid_request, a body source
// that failed), or the answer was too large. The response is held whole before it is written
// locally, so nothing of a failed attempt has reached the client.
bool worth_another_endpoint(const boost::system::error_code& error) noexcept;
// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 9.2.2): sending one twice does no harm.
bool is_idempotent(boost::beast::http::verb method) noexcept;

}  // namespace securechannel::daemon
