#include "request_command.hpp"

#include "http/upstream_url.hpp"

#include "securechannel/http_client.hpp"
#include "securechannel/http_request_check.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/securechannel.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include <unistd.h>

namespace scpool {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace securechannel;

// The pool for `endpoint`: from the --config file's pool with that endpoint when one is given
// (its TLS material, pins and limits), else the defaults; --ca, --pin and the protocol flags
// apply on top. An http:// URL (`tls` false) takes a plain pool; --http2 then means HTTP/2 with
// prior knowledge, as curl's --http2-prior-knowledge.
std::optional<PoolConfig> pool_config_for(const std::string& endpoint, bool tls, const RequestOptions& options,
                                          std::string& problem) {
  PoolConfig config;
  config.endpoint = endpoint;
  config.max_connections = std::max<std::size_t>(1, options.concurrency);
  config.tls.enabled = tls;
  if (tls) config.tls.alpn = {"h2", "http/1.1"};
  if (!options.config_file.empty()) {
    std::vector<PoolConfig> pools;
    try {
      pools = load_pool_config_file(options.config_file);
    } catch (const ConfigError& error) {
      problem = error.what();
      return std::nullopt;
    }
    const auto match = std::find_if(pools.begin(), pools.end(), [&](const PoolConfig& pool) {
      return pool.endpoint == endpoint;
    });
    if (match == pools.end()) {
      problem = options.config_file + " has no [[pool]] with endpoint = \"" + endpoint + "\"";
      return std::nullopt;
    }
    if (match->tls.enabled != tls) {
      problem = options.config_file + ": the pool for " + endpoint +
                (tls ? " has tls = false: use http://" : " uses TLS: use https://");
      return std::nullopt;
    }
    config = std::move(*match);
    if (tls && config.tls.alpn.empty()) config.tls.alpn = {"h2", "http/1.1"};
  }
  if (!options.ca_file.empty()) config.tls.ca_file = options.ca_file;
  config.tls.pins.insert(config.tls.pins.end(), options.pins.begin(), options.pins.end());
  if (!tls) {
    if (options.http1_only) config.tls.http2_prior_knowledge = false;
    if (options.http2_only) config.tls.http2_prior_knowledge = true;
    return config;
  }
  if (options.http1_only) config.tls.alpn = {"http/1.1"};
  if (options.http2_only) config.tls.alpn = {"h2"};
  return config;
}

// curl -v's way: on stderr, lines starting with "* ".
void print_exchange(const HttpExchangeInfo& exchange) {
  const auto ms = [](std::chrono::microseconds duration) { return std::chrono::duration<double, std::milli>(duration).count(); };
  fmt::print(stderr, "* connection {} ({}), {}, {} attempt{}\n", exchange.connection_id,
             exchange.reused ? "reused" : "new", exchange.protocol == HttpProtocol::http2 ? "HTTP/2" : "HTTP/1.1",
             exchange.attempts, exchange.attempts == 1 ? "" : "s");
  fmt::print(stderr, "* to a connection {:.3f} ms, to the first byte {:.3f} ms, total {:.3f} ms\n",
             ms(exchange.acquire_time), ms(exchange.time_to_first_byte), ms(exchange.total_time));
  if (exchange.affinity != AffinityOutcome::none) fmt::print(stderr, "* affinity key: {}\n", to_string(exchange.affinity));
}

double percentile_ms(std::vector<double> samples, double quantile) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<std::size_t>(quantile * static_cast<double>(samples.size() - 1) + 0.5)];
}

}  // namespace

int run_request(const RequestOptions& options) {
  std::string problem;
  const auto url = securechannel::detail::parse_upstream_url(options.url, problem);
  if (!url) {
    fmt::print(stderr, "scpool request: bad URL '{}': {}\n", options.url, problem);
    return 2;
  }
  if (options.http1_only && options.http2_only) {
    fmt::print(stderr, "scpool request: --http1.1 and --http2 exclude each other\n");
    return 2;
  }
  const http::verb method = options.method.empty() ? (options.body.empty() ? http::verb::get : http::verb::post)
                                                   : http::string_to_verb(options.method);
  if (method == http::verb::unknown) {
    fmt::print(stderr, "scpool request: unknown method '{}'\n", options.method);
    return 2;
  }

  asio::io_context io;
  const std::string endpoint =
      url->host.find(':') != std::string::npos ? "[" + url->host + "]:" + url->port : url->host + ":" + url->port;
  std::string config_problem;
  std::optional<PoolConfig> config = pool_config_for(endpoint, url->tls, options, config_problem);
  if (!config) {
    fmt::print(stderr, "scpool request: {}\n", config_problem);
    return 2;
  }
  std::shared_ptr<SecureChannelPool> pool;
  try {
    pool = SecureChannelPool::create(io.get_executor(), std::move(*config));
  } catch (const ConfigError& error) {
    fmt::print(stderr, "scpool request: {}\n", error.what());
    return 2;
  }
  HttpClient client(pool);

  HttpRequest prototype{method, url->target, 11};
  prototype.set(http::field::host, url->authority);
  prototype.set(http::field::user_agent, "scpool/0.1");
  for (const std::string& header : options.headers) {
    const std::size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      fmt::print(stderr, "scpool request: header '{}' is not 'Name: value'\n", header);
      return 2;
    }
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    prototype.set(header.substr(0, colon), value);
  }
  prototype.body() = options.body;
  if (auto request_problem = find_request_problem(prototype)) {
    fmt::print(stderr, "scpool request: the request cannot be sent: {}\n", *request_problem);
    return 2;
  }
  HttpRequestOptions request_options;
  request_options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));
  request_options.affinity.key = options.affinity_key;

  std::size_t started = 0;
  std::size_t finished = 0;
  std::vector<double> timings_ms;
  std::vector<double> acquire_ms;     // -v: from the call until the request had its connection
  std::vector<double> first_byte_ms;  // -v: until the first byte of the response
  std::map<unsigned, std::size_t> statuses;
  std::map<std::string, std::size_t> errors;
  std::optional<HttpResponse> last_response;
  const auto begin = std::chrono::steady_clock::now();

  // A live progress line on stderr when a person watches it (stdout may be piped on).
  const bool show_progress = options.count > 1 && ::isatty(STDERR_FILENO) == 1;
  std::size_t failed = 0;
  auto last_progress = begin;
  const auto report_progress = [&](bool final) {
    if (final) {
      fmt::print(stderr, "\r\x1b[K");  // the summary replaces it
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress < std::chrono::milliseconds(200)) return;
    last_progress = now;
    const double elapsed = std::chrono::duration<double>(now - begin).count();
    // As in the summary: no rate while every request failed.
    const std::string rate = failed == finished ? "" : fmt::format(", {:.0f}/s", static_cast<double>(finished) / elapsed);
    fmt::print(stderr, "\r\x1b[K{}/{} requests{}, {} errors", finished, options.count, rate, failed);
  };

  std::function<void()> start_one = [&] {
    if (started == options.count) return;
    ++started;
    const auto sent = std::chrono::steady_clock::now();
    client.async_request(prototype, request_options, [&, sent](boost::system::error_code ec, HttpResponse response) {
      ++finished;
      timings_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
      if (ec) {
        std::string reason = ec.message();
        const ConnectFailure failure = pool->last_connect_failure();
        if (ec.category() == securechannel_category() && !failure.tls.empty()) {
          // The request failed with the pool's failed connect: its error's name and what OpenSSL
          // or the socket said, as the pool's log and status put it. Otherwise (a timeout waiting
          // behind failing connects) what the last connect said, after the request's error.
          reason = ec == failure.error ? failure.describe() : reason + ": " + failure.tls.describe();
        }
        ++errors[reason];
        ++failed;
      } else {
        ++statuses[response.result_int()];
        if (options.verbose) {
          const HttpExchangeInfo& exchange = response.exchange;
          acquire_ms.push_back(std::chrono::duration<double, std::milli>(exchange.acquire_time).count());
          first_byte_ms.push_back(std::chrono::duration<double, std::milli>(exchange.time_to_first_byte).count());
          if (options.count == 1) print_exchange(exchange);
        }
        last_response = std::move(response);
      }
      if (show_progress) report_progress(finished == options.count);
      if (finished == options.count) {
        // Nothing else to do: close the connections and let io.run() return (the pool's timers
        // would keep it running otherwise).
        client.shutdown();
        pool->async_shutdown(std::chrono::seconds(1), [](boost::system::error_code) {});
        return;
      }
      start_one();
    });
  };
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options.concurrency); ++i) start_one();
  io.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();

  const HttpClientStats stats = client.stats();
  if (options.count == 1) {
    if (!last_response) {
      for (const auto& [reason, count] : errors) fmt::print(stderr, "scpool request: {}\n", reason);
      return 1;
    }
    if (options.print_headers) {
      fmt::print("HTTP {} {}\n", last_response->result_int(), std::string(last_response->reason()));
      for (const auto& field : *last_response) fmt::print("{}: {}\n", std::string(field.name_string()), std::string(field.value()));
      fmt::print("\n");
    }
    fmt::print("{}", last_response->body());
  } else {
    if (failed == finished) {
      // No rate: requests that all failed (often at once) would show as a flattering figure.
      fmt::print("{} requests in {:.3f} s, all failed, concurrency {}\n", finished, seconds, options.concurrency);
    } else {
      fmt::print("{} requests in {:.3f} s ({:.0f}/s) over {}, concurrency {}\n", finished, seconds,
                 static_cast<double>(finished) / seconds,
                 stats.protocol == HttpProtocol::http2 ? "HTTP/2" : "HTTP/1.1", options.concurrency);
    }
    for (const auto& [status, count] : statuses) fmt::print("  status {}: {}\n", status, count);
    fmt::print("time per request: p50 {:.3f} ms, p95 {:.3f} ms, max {:.3f} ms\n", percentile_ms(timings_ms, 0.5),
               percentile_ms(timings_ms, 0.95), percentile_ms(timings_ms, 1.0));
    fmt::print("reuse ratio: {:.4f} ({} of {} responses on reused connections), connections opened: {}, retries: {}\n",
               stats.requests == 0 ? 0.0 : static_cast<double>(stats.requests_on_reused_connections) / stats.requests,
               stats.requests_on_reused_connections, stats.requests, pool->stats().connections_created, stats.retries);
    if (options.verbose && !acquire_ms.empty()) {
      fmt::print(stderr, "* to a connection: p50 {:.3f} ms, p95 {:.3f} ms, max {:.3f} ms\n", percentile_ms(acquire_ms, 0.5),
                 percentile_ms(acquire_ms, 0.95), percentile_ms(acquire_ms, 1.0));
      fmt::print(stderr, "* to the first byte: p50 {:.3f} ms, p95 {:.3f} ms, max {:.3f} ms\n",
                 percentile_ms(first_byte_ms, 0.5), percentile_ms(first_byte_ms, 0.95), percentile_ms(first_byte_ms, 1.0));
    }
  }
  for (const auto& [reason, count] : errors) fmt::print(stderr, "scpool request: {} x {}\n", count, reason);
  return errors.empty() ? 0 : 1;
}

}  // namespace scpool
