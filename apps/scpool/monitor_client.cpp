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
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <optional>

namespace scpool {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

struct MonitorUrl {
  bool https = false;
  std::string host;    // without IPv6 brackets
  std::string port;
  std::string authority;  // the Host header
  std::string prefix;     // path before every request's, without a trailing '/'
};

std::optional<MonitorUrl> parse_monitor_url(std::string_view url) {
  MonitorUrl parsed;
  parsed.https = url.starts_with("https://");
  const std::string_view scheme = parsed.https ? "https://" : "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  parsed.port = parsed.https ? "443" : "80";
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
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

// One request and its response over `stream` (TCP, or TLS over TCP), with one deadline over the
// whole exchange: tcp_stream's timer covers each operation that follows.
struct Exchange {
  const http::request<http::string_body>& request;
  beast::flat_buffer buffer{};
  http::response<http::string_body> response{};
  boost::system::error_code error{};
  bool connected = false;
  bool tls_failed = false;
  long verify_result = X509_V_OK;  // https: why the certificate was refused

  // `handshake(stream, start)` runs after the connect and calls start(error) when it is done.
  template <class Stream, class Handshake>
  void run(asio::io_context& io, Stream& stream, const tcp::resolver::results_type& addresses,
           std::chrono::milliseconds timeout, Handshake handshake) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).async_connect(addresses, [&](boost::system::error_code ec, const tcp::endpoint&) {
      if ((error = ec)) return;
      connected = true;
      handshake(stream, [this, &stream](boost::system::error_code handshake_error) {
        if ((error = handshake_error)) return;
        http::async_write(stream, request, [this, &stream](boost::system::error_code write_error, std::size_t) {
          if ((error = write_error)) return;
          http::async_read(stream, buffer, response,
                           [this](boost::system::error_code read_error, std::size_t) { error = read_error; });
        });
      });
    });
    io.run();
  }

  MonitorReply reply(const std::string& url, std::chrono::milliseconds timeout) {
    if (error == beast::error::timeout) {
      return failure(MonitorError::timed_out,
                     "no answer from " + url + " within " + std::to_string(timeout.count()) + " ms");
    }
    if (error && !connected) return failure(MonitorError::unreachable, "cannot reach " + url + ": " + error.message());
    if (tls_failed) return failure(MonitorError::tls_failure, "TLS handshake with " + url + " failed: " + tls_reason());
    if (error == http::error::end_of_stream || error == asio::error::connection_reset || error == asio::error::eof ||
        error == ssl::error::stream_truncated) {
      return failure(MonitorError::unreachable, url + " closed the connection without an answer");
    }
    if (error) return failure(MonitorError::bad_response, url + " did not answer in HTTP: " + error.message());
    if (response.result_int() == 401) {
      return failure(MonitorError::unauthorized, url +
                                                     " refused the request (401): missing or invalid X-Auth-Token; "
                                                     "pass the token with --token-file");
    }
    return {.error = MonitorError::none, .message = {}, .status = response.result_int(),
            .body = std::move(response.body())};
  }

  // "certificate verify failed (SSL routines): self-signed certificate in certificate chain", or
  // a plain HTTP server's "wrong version number (SSL routines)".
  std::string tls_reason() const {
    if (verify_result == X509_V_OK) return error.message();
    return error.message() + ": " + X509_verify_cert_error_string(verify_result);
  }
};

}  // namespace

MonitorClient::MonitorClient(MonitorClientOptions options) : options_(std::move(options)) {}

MonitorClient::~MonitorClient() { securechannel::secure_wipe(options_.token); }

MonitorReply MonitorClient::get(std::string_view path_and_query) const {
  const std::string& url = options_.url;
  const auto parsed = parse_monitor_url(url);
  if (!parsed) return failure(MonitorError::bad_url, "bad URL '" + url + "': expected http(s)://host[:port][/prefix]");

  http::request<http::string_body> request{http::verb::get, parsed->prefix + std::string(path_and_query), 11};
  request.set(http::field::host, parsed->authority);
  request.set(http::field::user_agent, "scpool");
  request.set(http::field::accept, "application/json");
  request.set(http::field::connection, "close");
  if (!options_.token.empty()) request.set("X-Auth-Token", options_.token);

  asio::io_context io;
  boost::system::error_code error;
  tcp::resolver resolver(io);
  const auto addresses = resolver.resolve(parsed->host, parsed->port, error);
  if (error) return failure(MonitorError::unreachable, "cannot reach " + url + ": " + error.message());

  Exchange exchange{.request = request};
  if (!parsed->https) {
    beast::tcp_stream stream(io);
    exchange.run(io, stream, addresses, options_.timeout, [](auto& /*stream*/, auto&& start) { start({}); });
    return exchange.reply(url, options_.timeout);
  }

  ssl::context context(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  if (options_.ca_file.empty()) {
    context.set_default_verify_paths(error);
  } else {
    context.load_verify_file(options_.ca_file, error);
  }
  if (error) {
    return failure(MonitorError::tls_failure, "cannot load the CA file '" + options_.ca_file + "': " + error.message());
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(parsed->host));
  boost::system::error_code address_error;
  asio::ip::make_address(parsed->host, address_error);
  // SNI carries names only (RFC 6066 3).
  if (address_error) SSL_set_tlsext_host_name(stream.native_handle(), parsed->host.c_str());
  exchange.run(io, stream, addresses, options_.timeout, [&exchange](auto& tls, auto&& start) {
    tls.async_handshake(ssl::stream_base::client, [&exchange, &tls, start](boost::system::error_code handshake_error) {
      if (handshake_error) {
        exchange.tls_failed = true;
        exchange.verify_result = SSL_get_verify_result(tls.native_handle());
      }
      start(handshake_error);
    });
  });
  return exchange.reply(url, options_.timeout);
}

}  // namespace scpool
