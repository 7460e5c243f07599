// The sidecar, `scpool serve`, beside the proxies a service would otherwise run next to it:
// haproxy (TLS origination, HTTP/2 or HTTP/1.1 to the upstream) and stunnel (a TLS tunnel per
// local connection), all started here in front of one local nginx (1 worker, TLS 1.3, a CA made
// at start, every proxy verifying it). In one run:
//
// - HTTP: `wrk -t1 -c64 --latency` through each proxy's plain HTTP port (and straight to nginx
//   over TLS, the baseline): requests/s, p50/p99, and the proxy process's CPU per 100k requests
//   (utime + stime from /proc/PID/stat around each slice, all threads).
// - TCP: scpool's tcp listener beside stunnel, nginx's GET /big on one connection (bytes/s of
//   the bodies, proxy CPU per GiB), and the setup of a new local connection (connect + one
//   GET / round trip, in sequence, 10 ms apart).
//
//   sidecar_benchmark --seconds 10 --rounds 5 --json out.json   # full: 5 alternating 2 s slices
//   sidecar_benchmark --short                                   # CI: 1 s slices, 1 round
//
// Each row's time is cut into --rounds slices, and each round runs every row once, in an order
// rotated by one per round: on a shared machine whose speed drifts, the rows of a ratio sample
// the same conditions, and the ratios are taken round by round (median and min–max).
#include "demo/child_process.hpp"
#include "demo/serve_process.hpp"
#include "sidecar_clients.hpp"
#include "sidecar_peers.hpp"
#include "testing/process_info.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <optional>
#include <tuple>

namespace securechannel::bench {
namespace {

constexpr std::size_t kBigFileBytes = 64u << 20;
constexpr double kGiB = 1024.0 * 1024 * 1024;

struct Options {
  int seconds = 10;  // per row, cut into --rounds slices
  int rounds = 5;
  std::size_t connections = 64;  // wrk -c
  std::size_t setup_connections = 200;  // per tcp row, spread over the rounds
  std::string json_file;
  std::string scpool = SC_SCPOOL_BINARY;
};

struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};

Spread spread_of(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

std::string format_spread(const Spread& spread, int decimals) {
  return fmt::format("{:.{}f} ({:.{}f}–{:.{}f})", spread.median, decimals, spread.min, decimals, spread.max, decimals);
}

nlohmann::json to_json(const Spread& spread) {
  return {{"median", spread.median}, {"min", spread.min}, {"max", spread.max}};
}

double nginx_cpu_seconds(const demo::NginxServer& nginx) {
  double total = 0;
  for (const pid_t worker : testing::child_processes(nginx.pid())) total += std::max(0.0, testing::process_cpu_seconds(worker));
  return total;
}

// CPU seconds of a proxy process while `run` ran (-1 when there is no proxy: the direct row).
double proxy_cpu_during(pid_t pid, const std::function<void()>& run) {
  const double before = pid > 0 ? testing::process_cpu_seconds(pid) : 0;
  run();
  return pid > 0 ? testing::process_cpu_seconds(pid) - before : -1;
}

struct HttpSlice {
  WrkSlice load;
  double proxy_cpu = -1;  // seconds; -1: no proxy
  double nginx_cpu = 0;
  double proxy_cpu_per_100k() const { return per_100k(proxy_cpu); }
  double nginx_cpu_per_100k() const { return per_100k(nginx_cpu); }
  double per_100k(double cpu) const {
    return cpu >= 0 && load.requests > 0 ? cpu * 100'000 / static_cast<double>(load.requests) : -1;
  }
};

struct HttpRow {
  std::string name;
  std::string url;
  pid_t proxy_pid = -1;
  bool ours = false;  // a failed slice of an scpool row fails the run
  std::vector<HttpSlice> slices{};

  Spread of(const std::function<double(const HttpSlice&)>& value) const {
    std::vector<double> values;
    for (const HttpSlice& slice : slices) values.push_back(value(slice));
    return spread_of(values);
  }
};

struct TcpSlice {
  BulkSlice bulk;
  double bulk_proxy_cpu = 0;
  SetupSample setup;
  double setup_proxy_cpu = 0;
  double cpu_per_gib() const { return bulk.bytes > 0 ? bulk_proxy_cpu * kGiB / static_cast<double>(bulk.bytes) : -1; }
};

struct TcpRow {
  std::string name;
  std::string address;
  pid_t proxy_pid = -1;
  std::vector<TcpSlice> slices{};
};

// One ratio, round by round: `metric` of row a over row b in the same round.
struct Ratio {
  std::string label;
  Spread value;
};

template <class Row, class Slice>
Spread ratio_by_round(const Row& a, const Row& b, const std::function<double(const Slice&)>& metric) {
  std::vector<double> ratios;
  for (std::size_t round = 0; round < std::min(a.slices.size(), b.slices.size()); ++round) {
    const double denominator = metric(b.slices[round]);
    if (denominator > 0 && metric(a.slices[round]) >= 0) ratios.push_back(metric(a.slices[round]) / denominator);
  }
  return spread_of(ratios);
}

void print_http(const std::vector<HttpRow>& rows, std::size_t connections) {
  fmt::print("\nHTTP, wrk -t1 -c{}: median (min–max) over the slices\n", connections);
  fmt::print("{:<34} {:>26} {:>8} {:>24} {:>22} {:>8} {:>10} {:>7}\n", "path", "req/s", "p50 ms", "p99 ms",
             "proxy CPU s/100k", "proxy %", "nginx s/100k", "errors");
  for (const HttpRow& row : rows) {
    std::uint64_t errors = 0;
    for (const HttpSlice& slice : row.slices) errors += slice.load.errors;
    const Spread cpu = row.of([](const HttpSlice& s) { return s.proxy_cpu_per_100k(); });
    const Spread busy = row.of([](const HttpSlice& s) { return s.load.seconds > 0 ? s.proxy_cpu / s.load.seconds * 100 : 0; });
    fmt::print("{:<34} {:>26} {:>8.3f} {:>24} {:>22} {:>8} {:>10.3f} {:>7}\n", row.name,
               format_spread(row.of([](const HttpSlice& s) { return s.load.requests_per_second(); }), 0),
               row.of([](const HttpSlice& s) { return s.load.p50_ms; }).median,
               format_spread(row.of([](const HttpSlice& s) { return s.load.p99_ms; }), 2),
               row.proxy_pid > 0 ? format_spread(cpu, 3) : "-", row.proxy_pid > 0 ? fmt::format("{:.0f}", busy.median) : "-",
               row.of([](const HttpSlice& s) { return s.nginx_cpu_per_100k(); }).median, errors);
    for (const HttpSlice& slice : row.slices) {
      if (!slice.load.note.empty()) fmt::print("    {}\n", slice.load.note);
    }
  }
}

void print_tcp(const std::vector<TcpRow>& rows) {
  fmt::print("\nTCP: GET /big (64 MiB) on one connection; new connection = connect + GET / round trip, 10 ms apart\n");
  fmt::print("{:<26} {:>24} {:>22} {:>26} {:>10} {:>22} {:>9}\n", "path", "MiB/s", "proxy CPU s/GiB",
             "setup ms median (min–max)", "setup p90", "proxy CPU ms/connection", "failures");
  for (const TcpRow& row : rows) {
    std::vector<double> rate, cpu, all_setups, setup_cpu;
    std::size_t failures = 0;
    std::size_t connections = 0;
    for (const TcpSlice& slice : row.slices) {
      rate.push_back(slice.bulk.bytes_per_second() / (1024 * 1024));
      cpu.push_back(slice.cpu_per_gib());
      all_setups.insert(all_setups.end(), slice.setup.milliseconds.begin(), slice.setup.milliseconds.end());
      failures += slice.setup.failures;
      connections += slice.setup.milliseconds.size() + slice.setup.failures;
      if (!slice.setup.milliseconds.empty()) {
        setup_cpu.push_back(slice.setup_proxy_cpu * 1000 / static_cast<double>(slice.setup.milliseconds.size()));
      }
    }
    std::sort(all_setups.begin(), all_setups.end());
    const double p90 = all_setups.empty() ? 0 : all_setups[all_setups.size() * 9 / 10];
    fmt::print("{:<26} {:>24} {:>22} {:>26} {:>10.3f} {:>22} {:>5}/{}\n", row.name, format_spread(spread_of(rate), 0),
               format_spread(spread_of(cpu), 2), format_spread(spread_of(all_setups), 3), p90,
               format_spread(spread_of(setup_cpu), 3), failures, connections);
    for (const TcpSlice& slice : row.slices) {
      if (!slice.bulk.error.empty()) fmt::print("    bulk: {}\n", slice.bulk.error);
      if (!slice.setup.error.empty()) fmt::print("    setup: {}\n", slice.setup.error);
    }
  }
}

nlohmann::json to_json(const HttpRow& row) {
  nlohmann::json slices = nlohmann::json::array();
  for (const HttpSlice& slice : row.slices) {
    slices.push_back({{"requests", slice.load.requests},       {"errors", slice.load.errors},
                      {"seconds", slice.load.seconds},         {"requests_per_second", slice.load.requests_per_second()},
                      {"p50_ms", slice.load.p50_ms},           {"p99_ms", slice.load.p99_ms},
                      {"proxy_cpu_seconds", slice.proxy_cpu},  {"nginx_cpu_seconds", slice.nginx_cpu},
                      {"note", slice.load.note}});
  }
  return {{"path", row.name},
          {"url", row.url},
          {"requests_per_second", to_json(row.of([](const HttpSlice& s) { return s.load.requests_per_second(); }))},
          {"p50_ms", to_json(row.of([](const HttpSlice& s) { return s.load.p50_ms; }))},
          {"p99_ms", to_json(row.of([](const HttpSlice& s) { return s.load.p99_ms; }))},
          {"proxy_cpu_seconds_per_100k", to_json(row.of([](const HttpSlice& s) { return s.proxy_cpu_per_100k(); }))},
          {"nginx_cpu_seconds_per_100k", to_json(row.of([](const HttpSlice& s) { return s.nginx_cpu_per_100k(); }))},
          {"slices", slices}};
}

nlohmann::json to_json(const TcpRow& row) {
  nlohmann::json slices = nlohmann::json::array();
  for (const TcpSlice& slice : row.slices) {
    slices.push_back({{"bulk_bytes", slice.bulk.bytes},
                      {"bulk_seconds", slice.bulk.seconds},
                      {"bulk_bytes_per_second", slice.bulk.bytes_per_second()},
                      {"bulk_proxy_cpu_seconds", slice.bulk_proxy_cpu},
                      {"bulk_error", slice.bulk.error},
                      {"setup_milliseconds", slice.setup.milliseconds},
                      {"setup_failures", slice.setup.failures},
                      {"setup_proxy_cpu_seconds", slice.setup_proxy_cpu},
                      {"setup_error", slice.setup.error}});
  }
  return {{"path", row.name}, {"address", row.address}, {"slices", slices}};
}

int run(const Options& options) {
  testing::raise_file_descriptor_limit();
  const int slice_seconds = options.seconds / options.rounds;
  const auto wrk = std::string("/usr/bin/wrk");
  if (::access(wrk.c_str(), X_OK) != 0) throw std::runtime_error("wrk is not installed (scripts/bootstrap)");
  SidecarUpstream upstream(kBigFileBytes);
  const std::string nginx = upstream.nginx.endpoint();
  demo::TemporaryDirectory directory("securechannel-sidecar-bench");
  demo::ServeProcess scpool(options.scpool, directory.path(),
                               scpool_config(nginx, upstream.ca_file(), options.connections));
  if (!scpool.started()) throw std::runtime_error("scpool serve did not start:\n" + scpool.diagnostics());
  std::optional<HaproxyPeer> haproxy;
  if (HaproxyPeer::available()) haproxy.emplace(directory.path(), nginx, upstream.ca_file());
  std::optional<StunnelPeer> stunnel;
  if (StunnelPeer::available()) stunnel.emplace(directory.path(), nginx, upstream.ca_file());

  const std::string summary = scpool.output();
  const auto url = [](const std::string& address) { return "http://" + address + "/"; };
  std::vector<HttpRow> http = {
      {.name = "scpool serve, http (h2, 4 conns)", .url = url(scpool_listener(summary, "sidecar_h2", "http")),
       .proxy_pid = scpool.pid(), .ours = true},
      {.name = "scpool serve, http (http/1.1)", .url = url(scpool_listener(summary, "sidecar_h1", "http")),
       .proxy_pid = scpool.pid(), .ours = true}};
  if (haproxy) {
    http.push_back({.name = "haproxy 2.6 (h2)", .url = url(haproxy->h2_address()), .proxy_pid = haproxy->pid()});
    http.push_back({.name = "haproxy 2.6 (http/1.1)", .url = url(haproxy->h1_address()), .proxy_pid = haproxy->pid()});
  }
  if (stunnel) http.push_back({.name = "stunnel 5.68 (http/1.1)", .url = url(stunnel->address()), .proxy_pid = stunnel->pid()});
  http.push_back({.name = "wrk direct to nginx (https)", .url = "https://" + nginx + "/"});
  std::vector<TcpRow> tcp = {
      {.name = "scpool serve, tcp", .address = scpool_listener(summary, "sidecar_tcp", "tcp"), .proxy_pid = scpool.pid()}};
  if (stunnel) tcp.push_back({.name = "stunnel 5.68", .address = stunnel->address(), .proxy_pid = stunnel->pid()});

  fmt::print("nginx on {} (1 worker, TLS 1.3); {} round(s) of {} s slices per row, rows rotated each round.\n", nginx,
             options.rounds, slice_seconds);
  fmt::print("proxies: scpool serve pid {}{}{}\n", scpool.pid(),
             haproxy ? fmt::format(", haproxy pid {}", haproxy->pid()) : ", no haproxy (scripts/bootstrap installs it)",
             stunnel ? fmt::format(", stunnel pid {}", stunnel->pid()) : ", no stunnel (scripts/bootstrap installs it)");
  const std::size_t setup_per_slice = std::max<std::size_t>(1, options.setup_connections / options.rounds);
  for (int round = 0; round < options.rounds; ++round) {
    for (std::size_t i = 0; i < http.size(); ++i) {
      HttpRow& row = http[(i + static_cast<std::size_t>(round)) % http.size()];
      HttpSlice slice;
      const double nginx_before = nginx_cpu_seconds(upstream.nginx);
      slice.proxy_cpu = proxy_cpu_during(row.proxy_pid, [&] { slice.load = run_wrk(wrk, row.url, options.connections, slice_seconds); });
      slice.nginx_cpu = nginx_cpu_seconds(upstream.nginx) - nginx_before;
      fmt::print(stderr, "  round {}: {} {:.0f} req/s, p99 {:.2f} ms\n", round, row.name,
                 slice.load.requests_per_second(), slice.load.p99_ms);
      row.slices.push_back(slice);
    }
    for (std::size_t i = 0; i < tcp.size(); ++i) {
      TcpRow& row = tcp[(i + static_cast<std::size_t>(round)) % tcp.size()];
      TcpSlice slice;
      slice.bulk_proxy_cpu = proxy_cpu_during(row.proxy_pid, [&] {
        slice.bulk = download_through(row.address, kBigFileBytes, std::chrono::seconds(slice_seconds));
      });
      slice.setup_proxy_cpu = proxy_cpu_during(row.proxy_pid, [&] {
        slice.setup = connection_setup_through(row.address, setup_per_slice, std::chrono::milliseconds(10),
                                               std::chrono::seconds(20));
      });
      fmt::print(stderr, "  round {}: {} {:.0f} MiB/s, setup median {:.3f} ms\n", round, row.name,
                 slice.bulk.bytes_per_second() / (1024 * 1024), spread_of(slice.setup.milliseconds).median);
      row.slices.push_back(slice);
    }
  }

  print_http(http, options.connections);
  const auto find_http = [&](const std::string& prefix) -> const HttpRow* {
    for (const HttpRow& row : http) {
      if (row.name.rfind(prefix, 0) == 0) return &row;
    }
    return nullptr;
  };
  nlohmann::json ratios = nlohmann::json::array();
  fmt::print("\nRatios round by round, median (min–max):\n");
  const auto http_ratio = [&](const std::string& a_name, const std::string& b_name) {
    const HttpRow* a = find_http(a_name);
    const HttpRow* b = find_http(b_name);
    if (!a || !b) return;
    const Spread rate = ratio_by_round<HttpRow, HttpSlice>(*a, *b, [](const HttpSlice& s) { return s.load.requests_per_second(); });
    const Spread p99 = ratio_by_round<HttpRow, HttpSlice>(*a, *b, [](const HttpSlice& s) { return s.load.p99_ms; });
    const Spread cpu = ratio_by_round<HttpRow, HttpSlice>(*a, *b, [](const HttpSlice& s) { return s.proxy_cpu_per_100k(); });
    fmt::print("  {} / {}: req/s {}, p99 {}{}\n", a->name, b->name, format_spread(rate, 2), format_spread(p99, 2),
               b->proxy_pid > 0 ? ", proxy CPU per request " + format_spread(cpu, 2) : "");
    ratios.push_back({{"a", a->name}, {"b", b->name}, {"requests_per_second", to_json(rate)}, {"p99", to_json(p99)},
                      {"proxy_cpu_per_request", b->proxy_pid > 0 ? to_json(cpu) : nlohmann::json()}});
  };
  http_ratio("scpool serve, http (h2", "haproxy 2.6 (h2)");
  http_ratio("scpool serve, http (http/1.1)", "haproxy 2.6 (http/1.1)");
  http_ratio("scpool serve, http (h2", "stunnel");
  http_ratio("scpool serve, http (h2", "wrk direct");

  print_tcp(tcp);
  if (tcp.size() == 2) {
    const Spread rate = ratio_by_round<TcpRow, TcpSlice>(tcp[0], tcp[1], [](const TcpSlice& s) { return s.bulk.bytes_per_second(); });
    const Spread cpu = ratio_by_round<TcpRow, TcpSlice>(tcp[0], tcp[1], [](const TcpSlice& s) { return s.cpu_per_gib(); });
    const Spread setup = ratio_by_round<TcpRow, TcpSlice>(
        tcp[0], tcp[1], [](const TcpSlice& s) { return spread_of(s.setup.milliseconds).median; });
    fmt::print("  {} / {}: bytes/s {}, proxy CPU per byte {}, setup time {}\n", tcp[0].name, tcp[1].name,
               format_spread(rate, 2), format_spread(cpu, 2), format_spread(setup, 2));
    ratios.push_back({{"a", tcp[0].name}, {"b", tcp[1].name}, {"bytes_per_second", to_json(rate)},
                      {"proxy_cpu_per_byte", to_json(cpu)}, {"setup_median", to_json(setup)}});
  }

  bool complete = true;
  for (const HttpRow& row : http) {
    for (const HttpSlice& slice : row.slices) {
      complete = complete && slice.load.requests > 0 && (!row.ours || slice.load.errors == 0);
    }
  }
  for (const TcpSlice& slice : tcp[0].slices) {
    complete = complete && slice.bulk.bytes > 0 && slice.bulk.error.empty() && slice.setup.failures == 0;
  }
  if (!options.json_file.empty()) {
    nlohmann::json http_rows = nlohmann::json::array();
    for (const HttpRow& row : http) http_rows.push_back(to_json(row));
    nlohmann::json tcp_rows = nlohmann::json::array();
    for (const TcpRow& row : tcp) tcp_rows.push_back(to_json(row));
    nlohmann::json versions = nlohmann::json::object();
    for (const auto& [name, path, flag, start] :
         std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
             {"haproxy", "/usr/sbin/haproxy", "-v", "HAProxy version"},
             {"stunnel", "/usr/bin/stunnel4", "-version", "stunnel "},
             {"nginx", "/usr/sbin/nginx", "-v", "nginx/"},
             {"wrk", wrk, "-v", "wrk "}}) {
      versions[name] = program_version(path, flag, start).value_or("");
    }
    std::ofstream(options.json_file) << nlohmann::json{{"benchmark", "sidecar"},
                                                       {"upstream", nginx},
                                                       {"seconds", options.seconds},
                                                       {"rounds", options.rounds},
                                                       {"connections", options.connections},
                                                       {"setup_connections", options.setup_connections},
                                                       {"big_file_bytes", kBigFileBytes},
                                                       {"versions", versions},
                                                       {"http", http_rows},
                                                       {"tcp", tcp_rows},
                                                       {"ratios", ratios}}
                                                .dump(2)
                                     << "\n";
  }
  // Targets and ratios are reported, never enforced (a shared machine is noisy); a failed
  // request through scpool fails the run, as does a peer that served nothing.
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  securechannel::bench::Options options;
  bool short_mode = false;
  CLI::App app{"scpool serve beside haproxy and stunnel in front of one local nginx: HTTP and TCP"};
  app.add_option("--seconds", options.seconds, "load time per row, cut into --rounds slices")
      ->capture_default_str()
      ->check(CLI::Range(1, 300));
  app.add_option("--rounds", options.rounds, "alternating slices per row")->capture_default_str()->check(CLI::Range(1, 20));
  app.add_option("--connections", options.connections, "wrk -c")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--setup-connections", options.setup_connections, "new connections timed per tcp row")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--json", options.json_file, "also write the results to this file");
  app.add_option("--scpool", options.scpool, "the scpool binary")->capture_default_str();
  app.add_flag("--short", short_mode, "CI: --seconds 1 --rounds 1 --setup-connections 30");
  CLI11_PARSE(app, argc, argv);
  if (short_mode) {
    options.seconds = 1;
    options.rounds = 1;
    options.setup_connections = 30;
  }
  if (options.rounds > options.seconds) {
    fmt::print(stderr, "sidecar_benchmark: --rounds {} needs --seconds of at least {} (whole-second slices)\n",
               options.rounds, options.rounds);
    return 2;
  }
  try {
    return securechannel::bench::run(options);
  } catch (const std::exception& failure) {
    fmt::print(stderr, "sidecar_benchmark: {}\n", failure.what());
    return 1;
  }
}
