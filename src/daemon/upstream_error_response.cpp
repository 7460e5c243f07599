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

}  // namespace securechannel::daemon
