// Resident memory per idle TLS connection: the securechannel pool against bare
// boost::asio::ssl::stream, raw OpenSSL and Go's crypto/tls, all holding N verified TLS 1.3
// connections to the same local nginx in the same run. The pool and Asio are measured twice, with the connections made all
// at once and one at a time, because the heap layout that leaves changes RSS by several KB each.
//
//   idle_memory_benchmark                                   # N = 1000, prints a table
//   idle_memory_benchmark --connections 200 --json out.json # what CI runs
//
// Each variant runs in a child process forked from this one just before it starts. Run in
// sequence in one process, a later variant would reuse heap pages an earlier one freed and look
// cheaper than it is (or pay for the earlier one's fragmentation); forked, every variant starts
// from the same heap and the same OpenSSL state, and nothing it leaves behind reaches the
// next. The child sends its figures back as JSON over a pipe. Target (ARCHITECTURE.md): at most
// 15 KB per idle pooled connection, pool bookkeeping included, and (issue #21) at most 0.9x Go's
// crypto/tls measured in the same run. KB here are 1024 bytes. The Go rows come from go_idle_tls
// (bench/peers/go_idle_tls.go), built beside this program when a Go toolchain is installed.
#include "demo/child_process.hpp"
#include "idle_connection_holders.hpp"
#include "nginx_upstream.hpp"
#include "testing/process_info.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double target_kb_per_connection = 15.0;
constexpr double kb = 1024.0;

struct Variant {
  const char* name;
  const char* description;
  Establishment establishment;  // compared with the pool variant made the same way
  IdleMemorySample (*hold)(const IdleTarget&);  // nullptr: a Go row
  const char* go_flags = nullptr;                 // go_idle_tls's flags for a Go row
};

// The first two are the pool; the ratio column divides by the pool row of the same establishment.
constexpr Variant variants[] = {
    {"pool", "SecureChannelPool, min_idle = N, warm_up(): all handshakes at once", Establishment::concurrent,
     [](const IdleTarget& target) { return hold_idle_pool_connections(target, Establishment::concurrent); }},
    {"pool_1by1", "SecureChannelPool filled by N acquires, one at a time", Establishment::one_at_a_time,
     [](const IdleTarget& target) { return hold_idle_pool_connections(target, Establishment::one_at_a_time); }},
    {"asio_ssl", "boost::asio::ssl::stream<tcp::socket>, all handshakes at once", Establishment::concurrent,
     [](const IdleTarget& target) { return hold_idle_asio_ssl_streams(target, Establishment::concurrent); }},
    {"asio_ssl_1by1", "boost::asio::ssl::stream<tcp::socket>, one at a time", Establishment::one_at_a_time,
     [](const IdleTarget& target) { return hold_idle_asio_ssl_streams(target, Establishment::one_at_a_time); }},
    {"raw_openssl", "OpenSSL SSL on blocking sockets, SSL_MODE_RELEASE_BUFFERS, one at a time",
     Establishment::one_at_a_time, hold_idle_raw_openssl_connections},
    {"go_tls", "Go crypto/tls, 16 handshakes at once, resumption on, nothing reading", Establishment::concurrent,
     nullptr, "-establishment=concurrent"},
    {"go_tls_reading", "Go crypto/tls as go_tls, plus a goroutine in Read per connection (as net/http holds them)",
     Establishment::concurrent, nullptr, "-reading"},
};
// The row the Go target compares with, found by name so that reordering the rows cannot move it.
constexpr std::size_t go_tls_row = [] {
  std::size_t row = 0;
  while (std::string_view(variants[row].name) != "go_tls") ++row;
  return row;
}();
constexpr double go_target_ratio = 0.9;

nlohmann::json to_json(const IdleMemorySample& sample) {
  return {{"requested", sample.requested},
          {"established", sample.established},
          {"verified_tls13", sample.verified_tls13},
          {"resumed", sample.resumed},
          {"connect_failures", sample.connect_failures},
          {"rss_after_setup_bytes", sample.rss_after_setup},
          {"rss_after_first_bytes", sample.rss_after_first},
          {"rss_after_all_bytes", sample.rss_after_all},
          {"rss_after_probe_bytes", sample.rss_after_probe},
          {"heap_after_first_bytes", sample.heap_after_first},
          {"heap_after_all_bytes", sample.heap_after_all},
          {"heap_after_probe_bytes", sample.heap_after_probe},
          {"untrimmed_rss_after_first_bytes", sample.untrimmed_rss_after_first},
          {"untrimmed_rss_after_all_bytes", sample.untrimmed_rss_after_all},
          {"establish_seconds", sample.establish_seconds},
          {"error", sample.error}};
}

IdleMemorySample from_json(const nlohmann::json& json) {
  return {.requested = json.at("requested"),
          .established = json.at("established"),
          .verified_tls13 = json.at("verified_tls13"),
          .resumed = json.at("resumed"),
          .connect_failures = json.at("connect_failures"),
          .rss_after_setup = json.at("rss_after_setup_bytes"),
          .rss_after_first = json.at("rss_after_first_bytes"),
          .rss_after_all = json.at("rss_after_all_bytes"),
          .rss_after_probe = json.at("rss_after_probe_bytes"),
          .heap_after_first = json.at("heap_after_first_bytes"),
          .heap_after_all = json.at("heap_after_all_bytes"),
          .heap_after_probe = json.at("heap_after_probe_bytes"),
          .untrimmed_rss_after_first = json.at("untrimmed_rss_after_first_bytes"),
          .untrimmed_rss_after_all = json.at("untrimmed_rss_after_all_bytes"),
          .establish_seconds = json.at("establish_seconds"),
          .error = json.at("error")};
}

// Runs a Go row: go_idle_tls in its own process, which prints the same JSON as a forked child.
// nullopt when the program was not built (no Go toolchain).
std::optional<IdleMemorySample> run_go_peer(const Variant& variant, const IdleTarget& target) {
  const std::string program = testing::executable_directory() + "/go_idle_tls";
  if (::access(program.c_str(), X_OK) != 0) return std::nullopt;
  const auto run = demo::run_to_completion(
      {program, "-host", target.host, "-port", target.port, "-ca", target.ca_file, "-connections",
       std::to_string(target.connections), "-time-limit", std::to_string(target.time_limit.count()) + "s",
       variant.go_flags},
      "", target.time_limit + std::chrono::seconds(60));
  if (run.exit_code() != 0) {
    return IdleMemorySample{.requested = target.connections,
                            .error = "go_idle_tls " + run.description() + ": " + run.standard_error};
  }
  return from_json(nlohmann::json::parse(run.standard_output));
}

// Runs one variant in a forked child and returns what it measured. Called while this process
// has no other thread (nginx is a separate process), so the child may use anything.
IdleMemorySample run_in_child(const Variant& variant, const IdleTarget& target) {
  int channel[2];
  if (::pipe2(channel, O_CLOEXEC) != 0) return {.error = "pipe2 failed"};
  std::fflush(nullptr);  // or the child would print our buffered output a second time
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(channel[0]);
    ::close(channel[1]);
    return {.error = "fork failed"};
  }
  if (child == 0) {
    ::close(channel[0]);
    IdleMemorySample sample;
    try {
      sample = variant.hold(target);
    } catch (const std::exception& failure) {
      sample.error = failure.what();
    }
    const std::string report = to_json(sample).dump();
    for (std::size_t written = 0; written < report.size();) {
      const ssize_t result = ::write(channel[1], report.data() + written, report.size() - written);
      if (result <= 0 && errno != EINTR) break;
      if (result > 0) written += static_cast<std::size_t>(result);
    }
    std::fflush(nullptr);
    // _exit, not exit: the parent's destructors (nginx, the CA directory) must not run here.
    ::_exit(0);
  }

  ::close(channel[1]);
  std::string report;
  const auto deadline = Clock::now() + target.time_limit + std::chrono::seconds(60);
  for (char buffer[4096];;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd readable{.fd = channel[0], .events = POLLIN, .revents = 0};
    if (left <= 0 || ::poll(&readable, 1, static_cast<int>(left)) == 0) {
      ::kill(child, SIGKILL);
      report.clear();
      break;
    }
    const ssize_t got = ::read(channel[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    report.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(channel[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (report.empty()) return {.requested = target.connections, .error = "the child ended without a report"};
  return from_json(nlohmann::json::parse(report));
}

std::string mib(std::size_t bytes) { return fmt::format("{:.1f}", static_cast<double>(bytes) / (kb * kb)); }

struct Options {
  std::size_t connections = 1000;
  int time_limit_seconds = 60;
  std::string json_file;
};

int run(const Options& options) {
  testing::raise_file_descriptor_limit();
  rlimit descriptors{};
  ::getrlimit(RLIMIT_NOFILE, &descriptors);
  if (options.connections < 2 || options.connections + 64 > descriptors.rlim_cur) {
    fmt::print(stderr, "--connections must be between 2 and {} (the file descriptor limit minus 64)\n",
               descriptors.rlim_cur - 64);
    return 2;
  }
  // Room for every variant's connections at once: the previous child's sockets may still be
  // closing on nginx's side when the next child connects.
  const int worker_connections = static_cast<int>(std::max<std::size_t>(4096, 2 * options.connections + 64));
  NginxUpstream upstream({.worker_connections = worker_connections});
  const IdleTarget target{.host = "127.0.0.1",
                          .port = std::to_string(upstream.nginx.port()),
                          .ca_file = upstream.ca_file(),
                          .connections = options.connections,
                          .time_limit = std::chrono::seconds(options.time_limit_seconds)};

  fmt::print("Idle TLS 1.3 client connections to nginx on {} ({}), N = {}, each variant in a fresh child process.\n",
             upstream.nginx.endpoint(), OpenSSL_version(OPENSSL_VERSION), options.connections);
  fmt::print("RSS read after malloc_trim(0); per connection = (RSS with N - RSS with 1) / (N - 1). KB = 1024 bytes.\n\n");

  std::vector<IdleMemorySample> samples;
  std::vector<bool> measured;  // false: a Go row without go_idle_tls
  for (const Variant& variant : variants) {
    std::optional<IdleMemorySample> sample =
        variant.hold != nullptr ? run_in_child(variant, target) : run_go_peer(variant, target);
    measured.push_back(sample.has_value());
    samples.push_back(sample.value_or(IdleMemorySample{}));
  }

  const auto pool_kb_made = [&](Establishment establishment) {
    return samples[establishment == Establishment::concurrent ? 0 : 1].marginal_bytes_per_connection() / kb;
  };
  const auto optional_kb = [](double bytes) { return bytes > 0 ? fmt::format("{:.1f}", bytes / kb) : std::string("-"); };
  fmt::print("{:<14} {:>10} {:>8} {:>19} {:>8} {:>10} {:>11} {:>8} {:>8} {:>10}\n", "variant", "verified", "resumed",
             "RSS MiB setup/1/N",
             "KB/conn", "KB/conn(0)", "KB/conn(p)", "vs pool", "setup s", "heap KB/c", "untrim KB/c");
  nlohmann::json results = nlohmann::json::array();
  bool complete = true;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const IdleMemorySample& sample = samples[i];
    if (!measured[i]) {
      fmt::print("{:<14} not measured: go_idle_tls was not built beside this program (no Go toolchain)\n",
                 variants[i].name);
      continue;
    }
    const double per_connection_kb = sample.marginal_bytes_per_connection() / kb;
    const double pool_kb = pool_kb_made(variants[i].establishment);
    const double ratio = pool_kb > 0 ? per_connection_kb / pool_kb : 0;
    const std::string heap_kb =
        sample.rss_after_probe != 0
            ? fmt::format("{:.1f}/{:.1f}", sample.marginal_heap_bytes_per_connection() / kb,
                          sample.probed_heap_bytes_per_connection() / kb)
            : fmt::format("{:.1f}", sample.marginal_heap_bytes_per_connection() / kb);
    fmt::print("{:<14} {:>10} {:>8} {:>19} {:>8.1f} {:>10.1f} {:>11} {:>8.2f} {:>8.2f} {:>10} {:>11.1f}\n",
               variants[i].name, fmt::format("{}/{}", sample.verified_tls13, sample.requested),
               sample.rss_after_probe != 0 || variants[i].hold == nullptr ? std::to_string(sample.resumed)
                                                                          : std::string("-"),  // pool and Go rows
               fmt::format("{}/{}/{}", mib(sample.rss_after_setup), mib(sample.rss_after_first), mib(sample.rss_after_all)),
               per_connection_kb, sample.average_bytes_per_connection() / kb,
               optional_kb(sample.probed_bytes_per_connection()), ratio, sample.establish_seconds, heap_kb,
               sample.untrimmed_bytes_per_connection() / kb);
    if (!sample.error.empty()) {
      fmt::print("  {}: {}\n", variants[i].name, sample.error);
      complete = false;
    }
    nlohmann::json entry = to_json(sample);
    entry["name"] = variants[i].name;
    entry["description"] = variants[i].description;
    entry["establishment"] = variants[i].establishment == Establishment::concurrent ? "concurrent" : "one_at_a_time";
    entry["kb_per_connection"] = per_connection_kb;
    entry["kb_per_connection_including_one_time_costs"] = sample.average_bytes_per_connection() / kb;
    entry["kb_per_connection_after_probe"] = sample.probed_bytes_per_connection() / kb;
    entry["heap_kb_per_connection"] = sample.marginal_heap_bytes_per_connection() / kb;
    entry["heap_kb_per_connection_after_probe"] = sample.probed_heap_bytes_per_connection() / kb;
    entry["untrimmed_kb_per_connection"] = sample.untrimmed_bytes_per_connection() / kb;
    entry["ratio_to_pool_made_the_same_way"] = ratio;
    results.push_back(std::move(entry));
  }
  const double pool_kb = pool_kb_made(Establishment::concurrent);
  fmt::print("\nKB/conn: slope from 1 to N connections; (0): from none to N; (p): slope after one probe pass.\n");
  fmt::print("vs pool: divided by the pool row whose connections were made the same way (all at once or 1 by 1).\n");
  fmt::print("heap KB/c: diagnostic, the same slope for heap in use (mallinfo2 uordblks + hblkhd, chunk headers\n"
             "included) instead of RSS; pool rows: before/after the probe pass. untrim KB/c: the RSS slope read just\n"
             "before each malloc_trim(0), as a process that never trims sees it. KB/conn stays the figure that counts.\n");
  fmt::print("Target: securechannel pool (warm_up) <= {:.0f} KB per idle connection, bookkeeping included: {} ({:.2f} KB)\n",
             target_kb_per_connection, pool_kb <= target_kb_per_connection ? "met" : "NOT met", pool_kb);
  const double go_kb = samples[go_tls_row].marginal_bytes_per_connection() / kb;
  const double pool_to_go = measured[go_tls_row] && go_kb > 0 ? pool_kb / go_kb : 0;
  if (pool_to_go > 0) {
    fmt::print("Target: securechannel pool (warm_up) <= {:.1f}x Go crypto/tls (go_tls) in this run: {} ({:.2f}x)\n",
               go_target_ratio, pool_to_go <= go_target_ratio ? "met" : "NOT met", pool_to_go);
    // Go's slope carries one-time costs (runtime spans, the handshake goroutines' stacks) far
    // longer than the C++ rows: 15 KB at N = 200, 6 KB at 1000, 5.2 KB at 2000 and beyond.
    if (options.connections < 1000) fmt::print("  (Go's figure settles from N = 1000; below that this ratio flatters the pool)\n");
  }

  if (!options.json_file.empty()) {
    const nlohmann::json document = {{"benchmark", "idle_memory"},
                                     {"connections", options.connections},
                                     {"upstream", "nginx " + upstream.nginx.endpoint()},
                                     {"openssl", OpenSSL_version(OPENSSL_VERSION)},
                                     {"target_kb_per_connection", target_kb_per_connection},
                                     {"target_met", pool_kb <= target_kb_per_connection},
                                     {"pool_to_go_tls_ratio", pool_to_go},
                                     {"target_ratio_to_go_tls", go_target_ratio},
                                     {"variants", results}};
    std::ofstream(options.json_file) << document.dump(2) << "\n";
  }
  // The target is reported, not enforced: a noisy machine must not fail CI. Incomplete runs must.
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  securechannel::bench::Options options;
  CLI::App app{"RSS per idle TLS connection: securechannel pool vs asio::ssl::stream, raw OpenSSL, Go crypto/tls"};
  app.add_option("--connections", options.connections, "idle connections per variant")->capture_default_str();
  app.add_option("--time-limit", options.time_limit_seconds, "seconds allowed to establish them")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  app.add_option("--json", options.json_file, "also write the results to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    return securechannel::bench::run(options);
  } catch (const std::exception& failure) {
    fmt::print(stderr, "idle_memory_benchmark: {}\n", failure.what());
    return 1;
  }
}
