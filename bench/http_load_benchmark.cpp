// HTTP throughput against one local nginx (1 worker, TLS 1.3 or --plain, a 6-byte response), in one run:
// our HttpClient beside wrk (HTTP/1.1, same connection count) and beside h2load (HTTP/2, same
// connections x streams), as requests/s ratios, with the client's CPU seconds per 100k requests.
// Load is bounded by time and stops by itself; the peers are Debian's wrk and h2load.
//
//   http_load_benchmark --seconds 6 --rounds 3 --connections 32 --h2-connections 4 --h2-streams 32 --json out.json
//
// With --rounds R each client runs R slices of seconds/R, a peer's and ours alternating (the
// peer first in even rounds, ours first in odd ones), and the rows add the slices up: on a
// shared machine whose speed drifts, both sides of a ratio then sample the same conditions.
#include "demo/child_process.hpp"
#include "nginx_upstream.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/field.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct Options {
  int seconds = 5;
  int rounds = 1;  // alternating slices per client (see above)
  std::size_t connections = 32;     // HTTP/1.1: connections = requests in flight (as wrk)
  std::size_t h2_connections = 4;   // HTTP/2: connections ...
  std::size_t h2_streams = 32;      // ... x streams each (as h2load -c -m)
  std::string json_file;
  std::string protocols = "all";  // "http1", "h2" or "all"
  bool peers = true;              // false: our client only (for profiling)
  // Plain HTTP (a pool with tls = false) against nginx without TLS: HTTP/1.1, or h2c with prior
  // knowledge. One protocol per run: nginx 1.22 serves h2c only on a port of its own.
  bool plain = false;
};

struct LoadResult {
  std::string client;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // the client's user + system time
  // nginx's worker while this client ran, and the wall time that was measured over (start-up
  // included, so a little longer than `seconds` for the peers).
  double server_cpu_seconds = 0;
  double server_wall_seconds = 0;
  std::string note{};  // why the figure is missing, or the command line

  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double cpu_per_100k() const { return per_100k(cpu_seconds); }
  double server_cpu_per_100k() const { return per_100k(server_cpu_seconds); }
  // The share of one core nginx's worker used: near 1, the server is what limits the rate.
  double server_busy() const { return server_wall_seconds > 0 ? server_cpu_seconds / server_wall_seconds : 0; }
  double per_100k(double seconds_used) const {
    return requests > 0 ? seconds_used * 100'000.0 / static_cast<double>(requests) : 0;
  }

  // Adds one slice's figures (the first slice that explains a missing figure keeps its note).
  void add(const LoadResult& slice) {
    if (client.empty()) client = slice.client;
    requests += slice.requests;
    errors += slice.errors;
    seconds += slice.seconds;
    cpu_seconds += slice.cpu_seconds;
    server_cpu_seconds += slice.server_cpu_seconds;
    server_wall_seconds += slice.server_wall_seconds;
    if (note.empty() || (slice.requests == 0 && requests == 0)) note = slice.note;
  }
};

double cpu_seconds(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds of nginx's workers so far (its master only accepts and reloads).
double server_cpu_seconds(const demo::NginxServer& nginx) {
  double total = 0;
  for (const pid_t worker : testing::child_processes(nginx.pid())) total += std::max(0.0, testing::process_cpu_seconds(worker));
  return total;
}

// Runs one client and records what nginx's workers spent meanwhile.
LoadResult with_server_cpu(const demo::NginxServer& nginx, const std::function<LoadResult()>& run) {
  const double before = server_cpu_seconds(nginx);
  const auto started = Clock::now();
  LoadResult result = run();
  result.server_wall_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.server_cpu_seconds = server_cpu_seconds(nginx) - before;
  return result;
}

std::optional<std::string> find_program(const std::string& name) {
  for (const char* directory : {"/usr/bin/", "/usr/local/bin/"}) {
    const std::string path = std::string(directory) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return std::nullopt;
}

// Runs a load generator and reads from its output the successful requests and the seconds it
// measured them over (first capture group of each pattern).
LoadResult run_peer(const std::string& client, const std::vector<std::string>& command, int seconds,
                    const std::regex& requests_pattern, const std::regex& seconds_pattern) {
  LoadResult result{.client = client};
  for (const std::string& part : command) result.note += (result.note.empty() ? "" : " ") + part;
  const double cpu_before = cpu_seconds(RUSAGE_CHILDREN);
  const auto started = Clock::now();
  const auto run = demo::run_to_completion(command, "", std::chrono::seconds(seconds + 30));
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.cpu_seconds = cpu_seconds(RUSAGE_CHILDREN) - cpu_before;
  std::smatch requests;
  std::smatch measured;
  if (run.exit_code() != 0 || !std::regex_search(run.standard_output, requests, requests_pattern) ||
      !std::regex_search(run.standard_output, measured, seconds_pattern)) {
    result.note = client + " " + run.description() + ": " + run.standard_output.substr(0, 400) + run.standard_error;
    result.seconds = 0;
    return result;
  }
  result.requests = std::stoull(requests[1].str());
  result.seconds = std::stod(measured[1].str());  // the peer's own timing, without its start-up
  return result;
}

LoadResult run_our_client(const NginxUpstream& upstream, const std::string& alpn, std::size_t connections,
                          std::size_t in_flight, int seconds) {
  const bool plain = upstream.plain();
  const std::string protocol = !plain ? alpn : alpn == "h2" ? "h2c" : "http/1.1 plain";
  LoadResult result{.client = "securechannel HttpClient (" + protocol + ")"};
  asio::io_context io(1);
  PoolBuilder builder(upstream.nginx.endpoint());
  if (plain) {
    builder.without_tls(alpn == "h2");
  } else {
    builder.with_system_trust_store(false).with_ca_file(upstream.ca_file()).with_alpn({alpn});
  }
  auto pool = builder.with_max_connections(connections).with_max_pending(in_flight + 16).build(io.get_executor());
  HttpClient client(pool);
  // One request sent over and over, shared rather than copied per call: wrk and h2load also
  // build theirs once.
  HttpRequest request{http::verb::get, "/", 11};
  request.set(http::field::host, "localhost");
  request.prepare_payload();
  const auto shared_request = std::make_shared<const HttpRequest>(std::move(request));

  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(seconds);
  std::size_t outstanding = 0;
  // Like the peers' own figures: from the start (connections included) to the last response,
  // not the shutdown after it.
  auto finished = deadline;
  std::function<void()> issue = [&] {
    if (Clock::now() >= deadline) {
      if (outstanding == 0) {
        finished = Clock::now();
        client.shutdown();
        pool->async_shutdown(std::chrono::seconds(1), [](boost::system::error_code) {});
      }
      return;
    }
    ++outstanding;
    client.async_request(shared_request, {}, [&](boost::system::error_code ec, HttpResponse response) {
      --outstanding;
      if (ec || response.result_int() != 200) {
        ++result.errors;
        if (result.note.empty()) result.note = ec ? ec.message() : "status " + std::to_string(response.result_int());
      } else {
        ++result.requests;
      }
      issue();
    });
  };
  for (std::size_t i = 0; i < in_flight; ++i) issue();
  io.run();
  result.seconds = std::chrono::duration<double>(finished - started).count();
  result.cpu_seconds = cpu_seconds(RUSAGE_SELF) - cpu_before;
  return result;
}

void print_row(const LoadResult& result, const LoadResult* reference) {
  const std::string ratio = reference && reference->requests_per_second() > 0
                                ? fmt::format("{:.2f}", result.requests_per_second() / reference->requests_per_second())
                                : "-";
  fmt::print("{:<42} {:>10.0f} {:>10.3f} {:>8} {:>7} {:>13.3f} {:>7.0f}\n", result.client, result.requests_per_second(),
             result.cpu_per_100k(), ratio, result.errors, result.server_cpu_per_100k(), result.server_busy() * 100);
  if (result.requests == 0 && !result.note.empty()) fmt::print("    {}\n", result.note);
}

nlohmann::json to_json(const LoadResult& result) {
  return {{"client", result.client},         {"requests", result.requests},
          {"errors", result.errors},         {"seconds", result.seconds},
          {"cpu_seconds", result.cpu_seconds}, {"requests_per_second", result.requests_per_second()},
          {"cpu_seconds_per_100k", result.cpu_per_100k()},
          {"server_cpu_seconds", result.server_cpu_seconds},
          {"server_cpu_seconds_per_100k", result.server_cpu_per_100k()},
          {"server_busy", result.server_busy()},
          {"note", result.note}};
}

int run(const Options& options) {
  // Plain: HTTP/1.1, or (--protocols h2) an h2c-only port.
  NginxUpstream upstream(
      {.worker_connections = 4096, .http2 = !options.plain || options.protocols == "h2", .plain = options.plain});
  const std::string url = (options.plain ? "http://" : "https://") + upstream.nginx.endpoint() + "/";
  const std::string duration = std::to_string(options.seconds);  // the extra rows run once
  const int slice_seconds = options.seconds / options.rounds;
  const std::string slice = std::to_string(slice_seconds);
  fmt::print("nginx on {} (1 worker, {}, 6-byte body), {} s per client in {} alternating slice(s), one client "
             "at a time.\n\n",
             upstream.nginx.endpoint(), options.plain ? "plain HTTP" : "TLS 1.3", slice_seconds * options.rounds,
             options.rounds);
  // libcurl and Go's transports are compared over TLS only.
  const bool extra_peers = options.peers && !options.plain;

  std::vector<std::pair<LoadResult, std::optional<LoadResult>>> rows;  // ours, and its reference
  std::vector<LoadResult> extra_rows;  // libcurl multi, where built
  std::vector<std::string> go_transport_lines;
  const std::string ca_file = upstream.ca_file();
  // Our extra load generators, built beside this benchmark (bench/peers).
  const auto run_extra = [&](const std::string& client, const std::string& program, std::vector<std::string> arguments) {
    const std::string path = testing::executable_directory() + "/" + program;
    if (::access(path.c_str(), X_OK) != 0) return;
    arguments.insert(arguments.begin(), path);
    extra_rows.push_back(with_server_cpu(upstream.nginx, [&] {
      return run_peer(client, arguments, options.seconds, std::regex(R"(requests (\d+))"),
                      std::regex(R"(seconds ([\d.]+))"));
    }));
  };
  const auto run_extras = [&](const std::string& label, const std::string& proto, std::size_t connections,
                              std::size_t concurrency) {
    if (!extra_peers) return;
    const std::vector<std::string> common = {"--url", url, "--ca", ca_file, "--proto", proto,
                                             "--connections", std::to_string(connections),
                                             "--concurrency", std::to_string(concurrency),
                                             "--seconds", duration};
    run_extra("libcurl multi (" + label + ")", "curl_multi_load", common);
  };

  // Our client and its peer, slice by slice (see --rounds); no peer when it is not installed.
  const auto compare = [&](const std::optional<std::string>& peer_path, const std::function<LoadResult()>& peer,
                           const std::function<LoadResult()>& ours) {
    const bool with_peer = peer_path && options.peers;
    std::optional<LoadResult> peer_total;
    LoadResult ours_total;
    for (int round = 0; round < options.rounds; ++round) {
      const bool ours_first = round % 2 == 1;
      const auto run_ours = [&] {
        const LoadResult part = with_server_cpu(upstream.nginx, ours);
        fmt::print(stderr, "  slice {}: {} {:.0f} req/s\n", round, part.client, part.requests_per_second());
        ours_total.add(part);
      };
      if (ours_first) run_ours();
      if (with_peer) {
        if (!peer_total) peer_total.emplace();
        const LoadResult part = with_server_cpu(upstream.nginx, peer);
        fmt::print(stderr, "  slice {}: {} {:.0f} req/s\n", round, part.client, part.requests_per_second());
        peer_total->add(part);
      }
      if (!ours_first) run_ours();
    }
    rows.emplace_back(ours_total, peer_total);
  };

  // Go's http.Client over its own http.Transport (the peer) and over securechannel's cgo
  // RoundTripper (ours), alternating like the rows above; GOMAXPROCS=1 for both, and one I/O
  // thread in the library. Its CPU column is the whole Go process's, library threads included.
  const auto go_transports = [&](const std::string& label, const std::string& proto, std::size_t connections,
                                 std::size_t concurrency) {
    const std::string path = testing::executable_directory() + "/roundtrip_load";
    if (!extra_peers || ::access(path.c_str(), X_OK) != 0) return;
    const auto run_transport = [&, label, proto, connections, concurrency](const std::string& transport,
                                                                           const std::string& client) {
      return run_peer(client + " (" + label + ")",
                      {"/usr/bin/env", "GOMAXPROCS=1", path, "-transport", transport, "-url", url, "-ca", ca_file,
                       "-proto", proto, "-connections", std::to_string(connections), "-concurrency",
                       std::to_string(concurrency), "-seconds", slice},
                      slice_seconds, std::regex(R"(requests (\d+))"), std::regex(R"(seconds ([\d.]+))"));
    };
    compare(path, [&] { return run_transport("go", "Go http.Transport"); },
            [&] { return run_transport("securechannel", "Go over securechannel (cgo)"); });
  };

  // Memory the Go process holds per idle HTTP/1.1 connection, each transport in turn: RSS after
  // a short load over 129 connections minus RSS after the same over 1, divided by 128; the median
  // over --rounds alternating runs (RSS moves with the allocator's arenas, hence the median).
  const auto go_idle_memory = [&] {
    const std::string path = testing::executable_directory() + "/roundtrip_load";
    if (!extra_peers || ::access(path.c_str(), X_OK) != 0) return;
    const auto idle_rss = [&](const std::string& transport, std::size_t connections) -> std::optional<double> {
      const auto run = demo::run_to_completion(
          {"/usr/bin/env", "GOMAXPROCS=1", path, "-transport", transport, "-url", url, "-ca", ca_file, "-proto", "h1",
           "-connections", std::to_string(connections), "-concurrency", std::to_string(connections), "-seconds", "1"},
          "", std::chrono::seconds(40));
      std::smatch rss;
      if (run.exit_code() != 0 || !std::regex_search(run.standard_output, rss, std::regex(R"(idle_rss_bytes (\d+))"))) {
        fmt::print(stderr, "  roundtrip_load -transport {}: {} {}\n", transport, run.description(), run.standard_error);
        return std::nullopt;
      }
      return std::stod(rss[1].str());
    };
    std::map<std::string, std::vector<double>> per_connection;
    for (int round = 0; round < options.rounds; ++round) {
      for (const std::string& transport : round % 2 == 0 ? std::vector<std::string>{"go", "securechannel"}
                                                        : std::vector<std::string>{"securechannel", "go"}) {
        const auto one = idle_rss(transport, 1);
        const auto many = idle_rss(transport, 129);
        if (one && many) per_connection[transport].push_back((*many - *one) / 128);
      }
    }
    const auto median_kib = [](std::vector<double> values) {
      std::sort(values.begin(), values.end());
      return values.empty() ? 0.0 : values[values.size() / 2] / 1024;
    };
    go_transport_lines.push_back(fmt::format(
        "Go process RSS per idle HTTP/1.1 connection (median of {}): Go http.Transport {:.1f} KiB, "
        "Go over securechannel {:.1f} KiB",
        per_connection["go"].size(), median_kib(per_connection["go"]), median_kib(per_connection["securechannel"])));
  };

  // The cgo overhead per request of the RoundTripper: Go-to-C calls per request (counted by Go's
  // runtime over a 2 s load) times the cost of one crossing (timed by roundtrip_load on a C
  // function that does nothing).
  const auto go_crossing = [&](const std::string& label, const std::string& proto, std::size_t connections,
                               std::size_t concurrency) {
    const std::string path = testing::executable_directory() + "/roundtrip_load";
    if (!extra_peers || ::access(path.c_str(), X_OK) != 0) return;
    const auto run = demo::run_to_completion(
        {"/usr/bin/env", "GOMAXPROCS=1", path, "-transport", "securechannel", "-url", url, "-ca", ca_file, "-proto",
         proto, "-connections", std::to_string(connections), "-concurrency", std::to_string(concurrency), "-seconds",
         "2"},
        "", std::chrono::seconds(60));
    std::smatch found;
    if (run.exit_code() != 0 ||
        !std::regex_search(run.standard_output, found,
                           std::regex(R"(requests (\d+) .* cgo_calls (\d+) cgo_call_ns ([\d.]+))"))) {
      fmt::print(stderr, "  roundtrip_load (cgo crossing): {} {}\n", run.description(), run.standard_error);
      return;
    }
    const double requests = std::stod(found[1].str());
    const double calls_per_request = requests > 0 ? std::stod(found[2].str()) / requests : 0;
    const double call_ns = std::stod(found[3].str());
    go_transport_lines.push_back(fmt::format(
        "cgo overhead per request over securechannel ({}): {:.1f} Go-to-C calls x {:.0f} ns = {:.2f} us", label,
        calls_per_request, call_ns, calls_per_request * call_ns / 1000));
  };

  // HTTP/1.1: wrk with one thread and N connections (one request in flight on each).
  const bool http1 = options.protocols != "h2";
  const bool http2 = options.protocols != "http1";
  if (http1) {
    const auto wrk = find_program("wrk");
    compare(
        wrk,
        [&] {
          return run_peer("wrk -t1 (HTTP/1.1)",
                          {*wrk, "-t1", "-c" + std::to_string(options.connections), "-d" + slice + "s", url},
                          slice_seconds, std::regex(R"((\d+) requests in)"), std::regex(R"(requests in ([\d.]+)s)"));
        },
        [&] { return run_our_client(upstream, "http/1.1", options.connections, options.connections, slice_seconds); });
    run_extras("HTTP/1.1", "h1", options.connections, options.connections);
  }

  // HTTP/2: h2load with one thread, C connections x M streams, for the same time.
  if (http2) {
    const auto h2load = find_program("h2load");
    compare(
        h2load,
        [&] {
          return run_peer("h2load -t1 (HTTP/2)",
                          {*h2load, "-t1", "-c" + std::to_string(options.h2_connections),
                           "-m" + std::to_string(options.h2_streams), "-D" + slice, url},
                          slice_seconds, std::regex(R"(requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded)"),
                          std::regex(R"(finished in ([\d.]+)s)"));
        },
        [&] {
          return run_our_client(upstream, "h2", options.h2_connections, options.h2_connections * options.h2_streams,
                                slice_seconds);
        });
    run_extras("HTTP/2", "h2", options.h2_connections, options.h2_connections * options.h2_streams);
  }
  if (http1) go_transports("HTTP/1.1", "h1", options.connections, options.connections);
  if (http2) go_transports("HTTP/2", "h2", options.h2_connections, options.h2_connections * options.h2_streams);

  if (http1) go_idle_memory();
  if (http1) go_crossing("HTTP/1.1", "h1", options.connections, options.connections);
  if (http2) go_crossing("HTTP/2", "h2", options.h2_connections, options.h2_connections * options.h2_streams);

  fmt::print("{:<42} {:>10} {:>10} {:>8} {:>7} {:>13} {:>7}\n", "client", "req/s", "CPU s/100k", "vs peer", "errors",
             "nginx s/100k", "nginx %");
  nlohmann::json results = nlohmann::json::array();
  bool complete = true;
  for (const auto& [ours, reference] : rows) {
    if (reference) {
      print_row(*reference, nullptr);
      results.push_back(to_json(*reference));
    }
    print_row(ours, reference ? &*reference : nullptr);
    nlohmann::json entry = to_json(ours);
    if (reference && reference->requests_per_second() > 0) {
      entry["ratio_to_peer"] = ours.requests_per_second() / reference->requests_per_second();
    }
    results.push_back(std::move(entry));
    complete = complete && ours.requests > 0 && ours.errors == 0;
  }
  for (const LoadResult& extra : extra_rows) {
    print_row(extra, nullptr);
    results.push_back(to_json(extra));
  }
  for (const std::string& line : go_transport_lines) fmt::print("{}\n", line);
  if (!options.json_file.empty()) {
    std::ofstream(options.json_file) << nlohmann::json{{"benchmark", "http_load"},
                                                       {"upstream", upstream.nginx.endpoint()},
                                                       {"seconds", options.seconds},
                                                       {"rounds", options.rounds},
                                                       {"connections", options.connections},
                                                       {"h2_connections", options.h2_connections},
                                                       {"h2_streams", options.h2_streams},
                                                       {"results", results},
                                                       {"go_transport", go_transport_lines}}
                                                .dump(2)
                                     << "\n";
  }
  // Ratios are reported, not enforced (a shared machine is noisy); failed requests fail the run.
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  securechannel::bench::Options options;
  CLI::App app{"HTTP requests/s: securechannel HttpClient vs wrk (HTTP/1.1) and h2load (HTTP/2), against nginx"};
  app.add_option("--seconds", options.seconds, "duration of each client")->capture_default_str()->check(CLI::Range(1, 120));
  app.add_option("--rounds", options.rounds, "alternating slices per client (peer, ours, ours, peer, ...)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--connections", options.connections, "HTTP/1.1 connections")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--h2-connections", options.h2_connections, "HTTP/2 connections")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--h2-streams", options.h2_streams, "HTTP/2 streams per connection")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--json", options.json_file, "also write the results to this file");
  app.add_option("--protocols", options.protocols, "which rows: http1, h2 or all")
      ->capture_default_str()
      ->check(CLI::IsMember({"http1", "h2", "all"}));
  app.add_flag("!--no-peers", options.peers, "run our client only (to profile it)");
  app.add_flag("--plain", options.plain, "plain HTTP (tls = false) with --protocols http1 or h2 (h2c)");
  CLI11_PARSE(app, argc, argv);
  if (options.plain && options.protocols == "all") {
    fmt::print(stderr, "http_load_benchmark: --plain needs --protocols http1 or h2 (nginx serves h2c on a port of its own)\n");
    return 2;
  }
  if (options.rounds > options.seconds) {
    fmt::print(stderr, "http_load_benchmark: --rounds {} needs --seconds of at least {} (whole-second slices)\n",
               options.rounds, options.rounds);
    return 2;
  }
  try {
    return securechannel::bench::run(options);
  } catch (const std::exception& failure) {
    fmt::print(stderr, "http_load_benchmark: {}\n", failure.what());
    return 1;
  }
}
