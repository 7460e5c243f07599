// What a new pooled connection costs (TCP connect + full TLS 1.3 handshake + verification),
// beside `openssl s_time -new` against the same local nginx in the same run.
//
//   handshake_benchmark                                  # 5 s per sequential client, N = 200
//   handshake_benchmark --seconds 1 --connections 50     # what CI runs
//
// Three clients, one after the other, each against nginx with TLS 1.3 only:
//   - openssl s_time -new: one connection at a time, each closed without close_notify;
//   - the pool, sequentially: async_acquire on an empty pool of max 1, then mark_broken() and
//     release, so the pool closes it the same way and the next acquire must connect anew;
//   - the pool, cold start: a new pool with min_idle = N, warm_up(), until N are idle
//     (connections made concurrently, so this is throughput, not latency).
// The ratio compares the two sequential clients' wall time per connection.
#include "nginx_upstream.hpp"
#include "openssl_s_time.hpp"
#include "run_io_until.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Process-wide user + system CPU: includes Asio's resolver thread, which the pool uses.
double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct ClientRun {
  std::string name;
  std::size_t connections = 0;
  double wall_seconds = 0;
  double cpu_seconds = 0;
  std::string error{};

  double wall_us_per_connection() const { return connections ? wall_seconds * 1e6 / static_cast<double>(connections) : 0; }
  double cpu_us_per_connection() const { return connections ? cpu_seconds * 1e6 / static_cast<double>(connections) : 0; }
};

PoolBuilder pool_builder(const NginxUpstream& upstream) {
  PoolBuilder builder(upstream.nginx.endpoint());
  // Full handshakes, as `s_time -new` makes them: resumption would compare a different thing.
  builder.with_system_trust_store(false).with_ca_file(upstream.ca_file()).with_session_resumption(false);
  return builder;
}

NegotiatedParameters describe(const SSL* connection) {
  NegotiatedParameters parameters;
  parameters.protocol = SSL_get_version(connection);
  parameters.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(connection));
  // The short name, as `openssl s_client` prints it ("X25519", "prime256v1").
  const char* group = OBJ_nid2sn(SSL_get_negotiated_group(const_cast<SSL*>(connection)));
  parameters.group = group ? group : "unknown";
  if (SSL_get_verify_result(connection) != X509_V_OK || SSL_version(connection) != TLS1_3_VERSION) {
    parameters.error = "not a verified TLS 1.3 session";
  }
  return parameters;
}

// New connections one at a time for `seconds`: each acquire finds the pool empty and connects.
ClientRun pool_sequential(const NginxUpstream& upstream, int seconds, NegotiatedParameters& negotiated) {
  ClientRun run{.name = "securechannel pool, sequential"};
  asio::io_context io{1};
  auto pool = pool_builder(upstream).with_max_connections(1).build(io.get_executor());
  const double cpu_before = process_cpu_seconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  // The count bound only guards against a clock gone wrong; time ends the loop.
  for (std::size_t attempt = 0; Clock::now() < end && attempt < 10'000'000; ++attempt) {
    std::optional<Lease> lease;
    boost::system::error_code error;
    pool->async_acquire([&](boost::system::error_code ec, Lease acquired) {
      error = ec;
      lease.emplace(std::move(acquired));
    });
    if (!run_io_until(io, [&] { return lease.has_value(); }, 10s) || error) {
      run.error = "acquire failed: " + (error ? error.message() : std::string("timed out")) + " (" +
                  pool->last_connect_failure().describe() + ")";
      break;
    }
    if (run.connections++ == 0) negotiated = describe(lease->channel().native_handle());
    // Closed without close_notify, as s_time closes its connections; the next acquire connects.
    lease->mark_broken();
    lease.reset();
  }
  run.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.cpu_seconds = process_cpu_seconds() - cpu_before;
  const PoolStats stats = pool->stats();
  if (run.error.empty() && stats.connections_created != run.connections) {
    run.error = fmt::format("{} acquires but {} handshakes: connections were reused", run.connections,
                            stats.connections_created);
  }
  bool closed = false;
  pool->async_shutdown(0ms, [&](boost::system::error_code) { closed = true; });
  run_io_until(io, [&] { return closed; }, 10s);
  return run;
}

// A pool built from nothing until `connections` are idle: what a service pays at start.
ClientRun pool_cold_start(const NginxUpstream& upstream, std::size_t connections) {
  ClientRun run{.name = fmt::format("securechannel pool, cold start of {}", connections)};
  asio::io_context io{1};
  const double cpu_before = process_cpu_seconds();
  const auto start = Clock::now();
  auto pool = pool_builder(upstream).with_max_connections(connections).with_min_idle(connections).build(io.get_executor());
  pool->warm_up();
  run_io_until(io, [&] { return pool->stats().idle_connections == connections || pool->stats().connect_failures > 0; }, 60s);
  run.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.cpu_seconds = process_cpu_seconds() - cpu_before;

  std::vector<Lease> leases;  // every idle connection, checked independently of the pool's books
  while (std::optional<Lease> lease = pool->try_acquire()) {
    if (describe(lease->channel().native_handle()).error.empty()) ++run.connections;
    leases.push_back(std::move(*lease));
  }
  leases.clear();
  if (run.connections != connections) {
    run.error = fmt::format("{} of {} connections verified TLS 1.3; last failure: {}", run.connections, connections,
                            pool->last_connect_failure().describe());
  }
  bool closed = false;
  pool->async_shutdown(0ms, [&](boost::system::error_code) { closed = true; });
  run_io_until(io, [&] { return closed; }, 10s);
  return run;
}

nlohmann::json to_json(const ClientRun& run) {
  return {{"name", run.name},
          {"connections", run.connections},
          {"wall_seconds", run.wall_seconds},
          {"cpu_seconds", run.cpu_seconds},
          {"wall_us_per_connection", run.wall_us_per_connection()},
          {"cpu_us_per_connection", run.cpu_us_per_connection()},
          {"error", run.error}};
}

nlohmann::json to_json(const NegotiatedParameters& parameters) {
  return {{"protocol", parameters.protocol}, {"cipher", parameters.cipher}, {"group", parameters.group}};
}

struct Options {
  int seconds = 5;
  std::size_t connections = 200;
  std::string openssl = "openssl";
  std::string json_file;
};

int run(const Options& options) {
  testing::raise_file_descriptor_limit();
  const int worker_connections = static_cast<int>(std::max<std::size_t>(4096, 2 * options.connections + 64));
  NginxUpstream upstream({.worker_connections = worker_connections});
  const OpensslCommand command{.openssl = options.openssl,
                               .host_port = upstream.nginx.endpoint(),
                               .ca_file = upstream.ca_file(),
                               .seconds = options.seconds};

  const NegotiatedParameters cli = describe_openssl_client(command);
  const STimeResult s_time = run_openssl_s_time(command);
  NegotiatedParameters pool_negotiated;
  const ClientRun sequential = pool_sequential(upstream, options.seconds, pool_negotiated);
  const ClientRun cold_start = pool_cold_start(upstream, options.connections);
  const ClientRun reference{.name = "openssl s_time -new",
                            .connections = s_time.connections,
                            .wall_seconds = s_time.wall_seconds,
                            .cpu_seconds = s_time.cpu_seconds,
                            .error = s_time.error};

  fmt::print("Full TLS handshakes against nginx on {} ({}), TLS 1.3 only on the server.\n", upstream.nginx.endpoint(),
             OpenSSL_version(OPENSSL_VERSION));
  fmt::print("Negotiated: pool {} {} {} | openssl CLI {} {} {}\n", pool_negotiated.protocol, pool_negotiated.cipher,
             pool_negotiated.group, cli.protocol, cli.cipher, cli.group);
  fmt::print("Wall time includes the child's start-up for s_time; CPU is the client's (user + system).\n\n");
  fmt::print("{:<40} {:>8} {:>8} {:>12} {:>12} {:>10}\n", "client", "conns", "wall s", "us/conn wall", "us/conn CPU",
             "vs s_time");
  const double reference_us = reference.wall_us_per_connection();
  bool complete = true;
  for (const ClientRun* client : {&reference, &sequential, &cold_start}) {
    const double ratio = reference_us > 0 ? client->wall_us_per_connection() / reference_us : 0;
    fmt::print("{:<40} {:>8} {:>8.2f} {:>12.1f} {:>12.1f} {:>10.2f}\n", client->name, client->connections,
               client->wall_seconds, client->wall_us_per_connection(), client->cpu_us_per_connection(), ratio);
    if (!client->error.empty()) {
      fmt::print("  {}: {}\n", client->name, client->error);
      complete = false;
    }
  }
  fmt::print("\ns_time's own report: {} connections in {} real seconds (whole seconds), {:.2f} s of user CPU.\n",
             s_time.connections, s_time.real_seconds, s_time.user_seconds);
  const double ratio = reference_us > 0 ? sequential.wall_us_per_connection() / reference_us : 0;
  fmt::print("Sequential handshake cost, pool / openssl s_time: {:.2f}\n", ratio);
  for (const std::string& problem : {cli.error, pool_negotiated.error}) {
    if (!problem.empty()) {
      fmt::print("  negotiation check: {}\n", problem);
      complete = false;
    }
  }
  if (pool_negotiated.cipher != cli.cipher || pool_negotiated.group != cli.group) {
    fmt::print("  note: the two clients negotiated different parameters; the comparison is not like for like\n");
  }

  if (!options.json_file.empty()) {
    const nlohmann::json document = {{"benchmark", "handshake"},
                                     {"upstream", "nginx " + upstream.nginx.endpoint()},
                                     {"openssl", OpenSSL_version(OPENSSL_VERSION)},
                                     {"seconds", options.seconds},
                                     {"s_time_command", s_time.command},
                                     {"s_time_real_seconds", s_time.real_seconds},
                                     {"s_time_user_seconds", s_time.user_seconds},
                                     {"negotiated_pool", to_json(pool_negotiated)},
                                     {"negotiated_openssl_cli", to_json(cli)},
                                     {"clients", {to_json(reference), to_json(sequential), to_json(cold_start)}},
                                     {"ratio_sequential_pool_to_s_time", ratio}};
    std::ofstream(options.json_file) << document.dump(2) << "\n";
  }
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  securechannel::bench::Options options;
  CLI::App app{"TLS handshake cost: securechannel pool vs openssl s_time, against a local nginx"};
  app.add_option("--seconds", options.seconds, "duration of each sequential client (s_time -time)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--connections", options.connections, "connections made by the cold-start pool")
      ->capture_default_str()
      ->check(CLI::Range(1, 5000));
  app.add_option("--openssl", options.openssl, "the openssl binary")->capture_default_str();
  app.add_option("--json", options.json_file, "also write the results to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    return securechannel::bench::run(options);
  } catch (const std::exception& failure) {
    fmt::print(stderr, "handshake_benchmark: {}\n", failure.what());
    return 1;
  }
}
