// Soak: one pool holding thousands of live TLS connections to a local nginx, every connection
// carrying requests, with lifetime rotation and idle eviction running. Bounded in time; stops
// by itself. For each connection count it reports, from samples taken every second:
//   - latency p50/p99 of the steady phase, requests/s, the reuse ratio;
//   - RSS and descriptors when warm, once loaded and at the end of the steady phase (loaded to
//     end flat = no leak; a busy connection holds its TLS buffers, an idle one gives them back);
//   - handshakes/s while max_lifetime rotates the connections (spread by its jitter);
//   - connections, RSS and descriptors after idle eviction has trimmed the pool.
//
//   soak --connections 1000,10000 --seconds 120 [--protocol http1|h2] [--json out.json]
//
// HTTP/1.1 (the default) keeps `connections` requests in flight, one per connection, so every
// connection carries requests; HTTP/2 keeps as many streams in flight and lets HttpClient open
// connections as their streams fill.
#include "nginx_upstream.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/latency_histogram.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/field.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <vector>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::size_t> connection_counts{1000, 10000};
  int seconds = 120;  // steady phase per count; warm-up and eviction come on top
  std::string protocol = "http1";
  std::string json_file;
};

struct Sample {
  double at_seconds = 0;
  std::size_t connections = 0;
  std::uint64_t created_total = 0;
  std::uint64_t requests_total = 0;
  std::size_t rss_bytes = 0;
  std::size_t descriptors = 0;
};

struct SoakResult {
  std::size_t target = 0;
  double warm_up_seconds = 0;
  std::size_t peak_connections = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double requests_per_second = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> errors_by_kind;
  double reuse_ratio = 0;
  double rotation_handshakes_per_second = 0;  // connections made during the rotation window
  std::uint64_t rotated = 0;                  // closed for max_lifetime
  std::size_t rss_after_warm_up = 0;
  std::size_t rss_loaded = 0;  // a quarter into the steady phase (at most 10 s): every connection busy
  std::size_t rss_end_of_steady = 0;
  std::size_t fds_after_warm_up = 0;
  std::size_t fds_end_of_steady = 0;
  std::size_t connections_after_eviction = 0;
  std::uint64_t evicted = 0;  // closed for idle_timeout
  std::size_t rss_after_eviction = 0;
  std::size_t fds_after_eviction = 0;
  std::vector<Sample> samples;
};

// One soak at `target` connections (HTTP/1.1) or streams (HTTP/2).
SoakResult soak(NginxUpstream& upstream, std::size_t target, const Options& options) {
  SoakResult result;
  result.target = target;
  asio::io_context io;
  const auto steady_length = std::chrono::seconds(options.seconds);
  const bool h2 = options.protocol == "h2";
  auto pool = SecureChannelPool::builder(upstream.nginx.endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(upstream.ca_file())
                  .with_alpn({h2 ? "h2" : "http/1.1"})
                  .with_max_connections(target)
                  .with_max_pending(target)
                  .with_acquire_timeout(std::chrono::minutes(10))
                  // Rotation from 40 % of the steady phase on (±10 % jitter; connections made
                  // during warm-up, at a few hundred a second, rotate as far apart as they were
                  // made), idle eviction in the last phase, both by the cleanup task each second.
                  .with_max_lifetime(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::seconds(target / 200) + steady_length * 2 / 5))
                  .with_idle_timeout(std::chrono::seconds(5))
                  .with_cleanup_interval(std::chrono::seconds(1))
                  .build(io.get_executor());
  pool->run_cleanup_task();
  HttpClient client(pool);
  HttpRequest request{http::verb::get, "/", 11};
  request.set(http::field::host, "localhost");
  request.prepare_payload();
  const auto shared_request = std::make_shared<const HttpRequest>(std::move(request));

  enum class Phase { warm_up, steady, eviction, done };
  Phase phase = Phase::warm_up;
  // HTTP/1.1 warms up by leasing `target` connections at once (the pool opens them,
  // max_connecting at a time) and the load starts when all are there: requests on the first
  // connections would otherwise take the one core from the handshakes of the rest. HTTP/2
  // starts its streams at once and lets HttpClient open connections as they fill.
  std::size_t in_flight_wanted = h2 ? target : 0;
  std::size_t in_flight = 0;
  std::uint64_t completed = 0;
  // Fixed memory (the library's HDR-style histogram, 0.8 % resolution): the RSS figures are
  // the pool's, not a growing list of samples.
  LatencyHistogram steady_latencies;
  std::uint64_t steady_completed = 0;
  const auto started = Clock::now();
  Clock::time_point phase_started = started;
  std::uint64_t created_at_rotation_start = 0;
  Clock::time_point rotation_started{};
  std::uint64_t reuses_at_steady = 0;
  std::uint64_t acquires_at_steady = 0;

  std::function<void()> issue = [&] {
    if (phase == Phase::done || in_flight >= in_flight_wanted) return;
    ++in_flight;
    const auto sent = Clock::now();
    client.async_request(shared_request, {.timeout = std::chrono::seconds(60)},
                         [&, sent](boost::system::error_code error, HttpResponse response) {
                           --in_flight;
                           if (error || response.result_int() != 200) {
                             ++result.errors;
                             ++result.errors_by_kind[error ? std::string(error_kind(error))
                                                           : "status " + std::to_string(response.result_int())];
                           } else {
                             ++completed;
                             if (phase == Phase::steady) {
                               steady_latencies.record(Clock::now() - sent);
                               ++steady_completed;
                             }
                           }
                           issue();
                         });
  };

  const auto begin_steady = [&](const PoolStats& stats, Clock::time_point now) {
    phase = Phase::steady;
    phase_started = now;
    result.warm_up_seconds = std::chrono::duration<double>(now - started).count();
    result.rss_after_warm_up = testing::resident_set_bytes();
    result.fds_after_warm_up = testing::count_open_file_descriptors();
    reuses_at_steady = stats.reuses;
    acquires_at_steady = stats.acquires;
  };
  std::vector<Lease> held;
  std::size_t acquires_answered = 0;
  if (!h2) {
    held.reserve(target);
    for (std::size_t i = 0; i < target; ++i) {
      pool->async_acquire([&](boost::system::error_code error, Lease lease) {
        ++acquires_answered;
        if (error) {
          ++result.errors;
          ++result.errors_by_kind["warm-up " + std::string(error_kind(error))];
        } else {
          held.push_back(std::move(lease));
        }
        if (acquires_answered < target || phase != Phase::warm_up) return;
        held.clear();  // all back, idle and warm
        begin_steady(pool->stats(), Clock::now());
        in_flight_wanted = target;
        while (in_flight < in_flight_wanted) issue();
      });
    }
  }

  asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    const PoolStats stats = pool->stats();
    const auto now = Clock::now();
    Sample sample{std::chrono::duration<double>(now - started).count(), stats.total_connections,
                  stats.connections_created, completed, testing::resident_set_bytes(),
                  testing::count_open_file_descriptors()};
    result.samples.push_back(sample);
    result.peak_connections = std::max(result.peak_connections, stats.total_connections);
    const auto in_phase = now - phase_started;
    switch (phase) {
      case Phase::warm_up:
        // HTTP/2: warm once a round of streams has completed on the connections it needed.
        if (h2 && completed > target) {
          begin_steady(stats, now);
        } else if (in_phase > std::chrono::minutes(5)) {
          fmt::print(stderr, "soak: warm-up did not reach {} connections in 5 minutes ({})\n", target,
                     stats.total_connections);
          phase = Phase::done;
        }
        break;
      case Phase::steady:
        if (result.rss_loaded == 0 && in_phase >= std::min<Clock::duration>(std::chrono::seconds(10), steady_length / 4)) {
          result.rss_loaded = sample.rss_bytes;
        }
        if (rotation_started == Clock::time_point{} && stats.closed_max_lifetime > 0) {
          rotation_started = now;
          created_at_rotation_start = stats.connections_created;
        }
        if (in_phase >= steady_length) {
          phase = Phase::eviction;
          phase_started = now;
          result.rss_end_of_steady = sample.rss_bytes;
          result.fds_end_of_steady = sample.descriptors;
          result.requests_per_second = static_cast<double>(steady_completed) /
                                       std::chrono::duration<double>(in_phase).count();
          result.reuse_ratio = stats.acquires > acquires_at_steady
                                   ? static_cast<double>(stats.reuses - reuses_at_steady) /
                                         static_cast<double>(stats.acquires - acquires_at_steady)
                                   : 0;
          if (rotation_started != Clock::time_point{}) {
            result.rotation_handshakes_per_second =
                static_cast<double>(stats.connections_created - created_at_rotation_start) /
                std::max(1.0, std::chrono::duration<double>(now - rotation_started).count());
          }
          result.rotated = stats.closed_max_lifetime;
          in_flight_wanted = std::max<std::size_t>(1, target / 10);  // the rest go idle
        }
        break;
      case Phase::eviction:
        // idle_timeout 5 s plus a cleanup pass: 10 s leaves the idle ones time to go.
        if (in_phase >= std::chrono::seconds(10)) {
          result.connections_after_eviction = stats.total_connections;
          result.evicted = stats.closed_idle_timeout;
          result.rss_after_eviction = sample.rss_bytes;
          result.fds_after_eviction = sample.descriptors;
          phase = Phase::done;
        }
        break;
      case Phase::done:
        break;
    }
    if (phase == Phase::done) {
      client.shutdown();
      pool->async_shutdown(std::chrono::seconds(5), [](boost::system::error_code) {});
      return;
    }
    while (in_flight < in_flight_wanted) issue();
    ticker.expires_after(std::chrono::seconds(1));
    ticker.async_wait([&](boost::system::error_code error) {
      if (!error) tick();
    });
  };
  tick();
  io.run();
  const HistogramSnapshot latencies = steady_latencies.snapshot();
  result.p50_ms = latencies.quantile(0.50) / 1000.0;
  result.p99_ms = latencies.quantile(0.99) / 1000.0;
  return result;
}

std::string megabytes(std::size_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

void print(const SoakResult& r, const Options& options) {
  fmt::print("\n{} {} connections{}: warm in {:.1f} s, peak {} connections\n", options.protocol, r.target,
             options.protocol == "h2" ? " (streams in flight)" : "", r.warm_up_seconds, r.peak_connections);
  fmt::print("  steady {} s: {:.0f} req/s, p50 {:.2f} ms, p99 {:.2f} ms, reuse {:.4f}, errors {}\n", options.seconds,
             r.requests_per_second, r.p50_ms, r.p99_ms, r.reuse_ratio, r.errors);
  for (const auto& [kind, count] : r.errors_by_kind) fmt::print("    {} x {}\n", count, kind);
  fmt::print("  RSS {} warm and idle, {} loaded, {} at the end; descriptors {} -> {}\n", megabytes(r.rss_after_warm_up),
             megabytes(r.rss_loaded), megabytes(r.rss_end_of_steady), r.fds_after_warm_up, r.fds_end_of_steady);
  fmt::print("  rotation: {} closed for max_lifetime, {:.0f} handshakes/s while rotating\n", r.rotated,
             r.rotation_handshakes_per_second);
  fmt::print("  eviction: {} closed idle, {} connections left, RSS {}, descriptors {}\n", r.evicted,
             r.connections_after_eviction, megabytes(r.rss_after_eviction), r.fds_after_eviction);
}

nlohmann::json to_json(const SoakResult& r) {
  nlohmann::json samples = nlohmann::json::array();
  for (const Sample& s : r.samples) {
    samples.push_back({{"t", s.at_seconds}, {"connections", s.connections}, {"created_total", s.created_total},
                       {"requests_total", s.requests_total}, {"rss_bytes", s.rss_bytes}, {"fds", s.descriptors}});
  }
  return {{"connections", r.target},
          {"warm_up_seconds", r.warm_up_seconds},
          {"peak_connections", r.peak_connections},
          {"p50_ms", r.p50_ms},
          {"p99_ms", r.p99_ms},
          {"requests_per_second", r.requests_per_second},
          {"errors", r.errors},
          {"errors_by_kind", r.errors_by_kind},
          {"reuse_ratio", r.reuse_ratio},
          {"rotated", r.rotated},
          {"rotation_handshakes_per_second", r.rotation_handshakes_per_second},
          {"rss_after_warm_up", r.rss_after_warm_up},
          {"rss_loaded", r.rss_loaded},
          {"rss_end_of_steady", r.rss_end_of_steady},
          {"fds_after_warm_up", r.fds_after_warm_up},
          {"fds_end_of_steady", r.fds_end_of_steady},
          {"evicted", r.evicted},
          {"connections_after_eviction", r.connections_after_eviction},
          {"rss_after_eviction", r.rss_after_eviction},
          {"fds_after_eviction", r.fds_after_eviction},
          {"samples", samples}};
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  using namespace securechannel::bench;
  Options options;
  std::string counts = "1000,10000";
  CLI::App app{"Soak: thousands of pooled TLS connections under load, rotation and eviction"};
  app.add_option("--connections", counts, "Comma-separated connection counts, one soak each");
  app.add_option("--seconds", options.seconds, "Steady phase per soak")->check(CLI::Range(2, 3600));
  app.add_option("--protocol", options.protocol, "http1 or h2")->check(CLI::IsMember({"http1", "h2"}));
  app.add_option("--json", options.json_file, "Write the results and per-second samples here");
  CLI11_PARSE(app, argc, argv);
  options.connection_counts.clear();
  std::stringstream list(counts);
  for (std::string item; std::getline(list, item, ',');) options.connection_counts.push_back(std::stoul(item));

  securechannel::testing::raise_file_descriptor_limit();
  const std::size_t largest = *std::max_element(options.connection_counts.begin(), options.connection_counts.end());
  NginxUpstream upstream({.worker_connections = static_cast<int>(largest + 1024), .http2 = options.protocol == "h2"});
  nlohmann::json runs = nlohmann::json::array();
  int status = 0;
  for (std::size_t target : options.connection_counts) {
    const SoakResult result = soak(upstream, target, options);
    print(result, options);
    runs.push_back(to_json(result));
    if (result.warm_up_seconds == 0 || result.errors > 0) status = 1;
  }
  if (!options.json_file.empty()) std::ofstream(options.json_file) << runs.dump(1) << "\n";
  return status;
}
