#include "daemon/upstream_error_response.hpp"

#include "securechannel/error.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace securechannel::daemon {

namespace http = boost::beast::http;

HttpResponse json_error_response(unsigned status, std::string_view error, std::string_view message) {
  HttpResponse response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  // Through the JSON library, not string concatenation: messages may quote parser errors.
  response.body() = nlohmann::json{{"error", error}, {"message", message}}.dump();
  response.content_length(response.body().size());
  return response;
}

unsigned upstream_error_status(const boost::system::error_code& error) noexcept {
  if (error.category() != securechannel_category()) return 502;  // I/O errors on the way
  switch (static_cast<errc>(error.value())) {
    case errc::circuit_open:
    case errc::acquire_timeout:
    case errc::pool_exhausted:
    case errc::shutting_down:
      return 503;
    case errc::request_timeout:
      return 504;
    case errc::invalid_request:
      return 400;
    default:
      return 502;
  }
}

HttpResponse upstream_error_response(const boost::system::error_code& error) {
  const unsigned status = upstream_error_status(error);
  const std::string message = (status == 400 ? "the request cannot be forwarded: " : "upstream request failed: ") +
                              error.message();
  return json_error_response(status, error_kind(error), message);
}

HttpResponse no_endpoint_response() {
  return json_error_response(503, "no_endpoint",
                             "every endpoint of the pool is ejected after failing, and no backup can serve");
}

bool worth_another_endpoint(const boost::system::error_code& error) noexcept {
  if (error.category() != securechannel_category()) return true;  // I/O errors of that connection
  switch (static_cast<errc>(error.value())) {
    case errc::request_timeout:
    case errc::invalid_request:
    case errc::request_body_aborted:
    case errc::response_body_aborted:
    case errc::response_too_large:
    case errc::response_headers_too_large:
    case errc::shutting_down:
      return false;
    default:
      return true;
  }
}

bool is_idempotent(http::verb method) noexcept {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::trace:
    case http::verb::put:
    case http::verb::delete_:
      return true;
    default:
      return false;
  }
}

}  // namespace securechannel::daemon
