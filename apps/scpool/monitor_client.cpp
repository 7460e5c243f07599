#include "monitor_client.hpp"

#include "securechannel/secure_buffer.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <optional>

namespace scpool {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct PlainUrl {
  std::string host;    // without IPv6 brackets
  std::string port = "80";
  std::string authority;  // the Host header
  std::string prefix;     // path before every request's, without a trailing '/'
};

std::optional<PlainUrl> parse_plain_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  PlainUrl parsed;
  parsed.authority = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) parsed.prefix = std::string(rest.substr(slash));
  while (parsed.prefix.ends_with('/')) parsed.prefix.pop_back();
  std::string_view authority = parsed.authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parsed.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (parsed.host.empty() || parsed.prefix.find_first_of("?# ") != std::string::npos) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    const int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) return std::nullopt;
    parsed.port = std::string(port);
  }
  return parsed;
}

MonitorReply failure(MonitorError error, std::string message) {
  return {.error = error, .message = std::move(message), .status = 0, .body = {}};
}

}  // namespace

MonitorClient::MonitorClient(MonitorClientOptions options) : options_(std::move(options)) {}

MonitorClient::~MonitorClient() { securechannel::secure_wipe(options_.token); }

MonitorReply MonitorClient::get(std::string_view path_and_query) const {
  const std::string& url = options_.url;
  if (url.starts_with("https://")) {
    return failure(MonitorError::unsupported_url, "https monitoring URLs are not supported by this client yet");
  }
  const auto parsed = parse_plain_url(url);
  if (!parsed) return failure(MonitorError::bad_url, "bad URL '" + url + "': expected http://host[:port][/prefix]");

  asio::io_context io;
  beast::tcp_stream stream(io);
  boost::system::error_code error;
  tcp::resolver resolver(io);
  const auto addresses = resolver.resolve(parsed->host, parsed->port, error);
  if (error) return failure(MonitorError::unreachable, "cannot reach " + url + ": " + error.message());

  http::request<http::string_body> request{http::verb::get, parsed->prefix + std::string(path_and_query), 11};
  request.set(http::field::host, parsed->authority);
  request.set(http::field::user_agent, "scpool");
  request.set(http::field::accept, "application/json");
  request.set(http::field::connection, "close");
  if (!options_.token.empty()) request.set("X-Auth-Token", options_.token);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  // One deadline for the whole exchange: tcp_stream's timer covers each operation that follows.
  stream.expires_after(options_.timeout);
  bool connected = false;
  stream.async_connect(addresses, [&](boost::system::error_code ec, const tcp::endpoint&) {
    if ((error = ec)) return;
    connected = true;
    http::async_write(stream, request, [&](boost::system::error_code write_error, std::size_t) {
      if ((error = write_error)) return;
      http::async_read(stream, buffer, response, [&](boost::system::error_code read_error, std::size_t) {
        error = read_error;
      });
    });
  });
  io.run();
  if (error == beast::error::timeout) {
    return failure(MonitorError::timed_out, "no answer from " + url + " within " +
                                                std::to_string(options_.timeout.count()) + " ms");
  }
  if (error && !connected) return failure(MonitorError::unreachable, "cannot reach " + url + ": " + error.message());
  if (error == http::error::end_of_stream || error == asio::error::connection_reset || error == asio::error::eof) {
    return failure(MonitorError::unreachable, url + " closed the connection without an answer");
  }
  if (error) return failure(MonitorError::bad_response, url + " did not answer in HTTP: " + error.message());
  if (response.result_int() == 401) {
    return failure(MonitorError::unauthorized,
                   url + " refused the request (401): missing or invalid X-Auth-Token; pass the token with --token-file");
  }
  return {.error = MonitorError::none, .message = {}, .status = response.result_int(), .body = std::move(response.body())};
}

}  // namespace scpool
