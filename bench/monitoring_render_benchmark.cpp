// Cost of answering the monitoring endpoints for a big pool: /metrics (aggregated, so its cost
// should not grow with the number of connections) and /status/connections (one JSON object per
// connection). The pool holds --connections real, verified TLS connections to a local nginx.
//
//   monitoring_render_benchmark --connections 10000        # the case (docs/BENCHMARKS.md)
//   monitoring_render_benchmark --connections 500 --benchmark_min_time=0.05    # CI
//
// Target (issue #3): /metrics for a pool of 10,000 connections in <= 10 ms.
#include "nginx_upstream.hpp"
#include "run_io_until.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace securechannel::bench {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

void render(benchmark::State& state, const MonitoredPools& pools, const std::string& target) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    MonitoringResponse response = pools.handle({"GET", target});
    if (response.status != 200) {
      state.SkipWithError(("status " + std::to_string(response.status) + " for " + target).c_str());
      break;
    }
    bytes = response.body.size();
    benchmark::DoNotOptimize(response);
  }
  state.counters["body_bytes"] = benchmark::Counter(static_cast<double>(bytes));
}

// --connections N is ours; everything else goes to Google Benchmark.
std::size_t take_connections_flag(int& argc, char** argv) {
  std::size_t connections = 10'000;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
      connections = std::strtoul(argv[++i], nullptr, 10);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (connections == 0) throw std::invalid_argument("--connections must be at least 1");
  return connections;
}

}  // namespace
}  // namespace securechannel::bench

int main(int argc, char** argv) {
  using namespace securechannel;
  using namespace securechannel::bench;
  try {
    const std::size_t connections = take_connections_flag(argc, argv);
    benchmark::Initialize(&argc, argv);
    testing::raise_file_descriptor_limit();
    NginxUpstream upstream({.worker_connections = static_cast<int>(connections) + 256});
    boost::asio::io_context io{1};
    auto pool = SecureChannelPool::builder(upstream.nginx.endpoint())
                    .with_namespace("relay")
                    .with_system_trust_store(false)
                    .with_ca_file(upstream.ca_file())
                    .with_max_connections(connections)
                    .with_min_idle(connections)
                    .build(io.get_executor());
    pool->warm_up();
    if (!run_io_until(io, [&] { return pool->stats().idle_connections == connections; }, 600s)) {
      std::cerr << "warm-up reached " << pool->stats().idle_connections << " of " << connections
                << " connections: " << pool->last_connect_failure().describe() << "\n";
      return 1;
    }
    std::cout << connections << " verified connections to nginx at " << upstream.nginx.endpoint() << "\n";

    MonitoredPools pools;
    std::string problem;
    if (!pools.add(pool, problem)) throw std::runtime_error(problem);
    benchmark::RegisterBenchmark("render/metrics", render, std::cref(pools), "/metrics")->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("render/status_connections", render, std::cref(pools), "/status/connections")
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("render/stats", render, std::cref(pools), "/api/v1/secure-channel/stats")
        ->Unit(benchmark::kMicrosecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    bool done = false;
    pool->async_shutdown(0ms, [&](boost::system::error_code) { done = true; });
    run_io_until(io, [&] { return done; }, 60s);
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "monitoring_render_benchmark: " << error.what() << "\n";
    return 1;
  }
}
