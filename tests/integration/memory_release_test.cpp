// release_memory_at_rest: after a burst, the TLS buffers the pool cooled leave the process's RSS,
// not only glibc's heap in use. Each test runs in a process of its own (ctest), so the
// process-wide pacing of releases (one per 10 s) starts afresh in each.
#include "echo_upstream.hpp"
#include "heap_in_use.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/metrics_registry.hpp"
#include "securechannel/pool_metrics.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// Resident memory of this process, from /proc/self/statm (pages).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

class MemoryReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef SC_HEAP_REPLACED_BY_SANITIZER
    GTEST_SKIP() << "measures glibc's heap, which the sanitizer's allocator replaces";
#endif
  }

  // Leases `connections` at once and makes each exchange, so that each holds its TLS buffers;
  // the leases come back when the returned vector goes.
  std::vector<Lease> busy(SecureChannelPool& pool, std::size_t connections) {
    std::vector<Lease> leases;
    for (std::size_t i = 0; i < connections; ++i) leases.push_back(testing::acquire(pool));
    for (Lease& lease : leases) EXPECT_EQ(testing::echo_exchange(lease, "busy"), "busy");
    return leases;
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
};

TEST_F(MemoryReleaseTest, ABurstsBuffersLeaveTheProcessWhenThePoolComesToRest) {
  constexpr std::size_t connections = 96;  // 88 cooled at rest: 4.4 MB of buffers freed
  auto pool = echo.builder_for(echo.server.endpoint()).with_max_connections(connections).build(io.executor());
  std::vector<Lease> leases = busy(*pool, connections);
  const std::size_t busy_resident = resident_bytes();
  leases.clear();
  ASSERT_TRUE(testing::eventually([&] { return pool->stats().memory_releases == 1; }, 5s))
      << "no release after the pool came to rest";
  const std::size_t rest_resident = resident_bytes();
  // Only the pages the exchanges touched were resident: a few per connection, about 1.1 MB in
  // all here. Without the release the figure stays where it was (freed blocks keep their pages).
  EXPECT_GE(std::ptrdiff_t(busy_resident) - std::ptrdiff_t(rest_resident), std::ptrdiff_t(512 << 10))
      << "resident " << busy_resident << " bytes busy, " << rest_resident << " at rest";
  testing::shutdown(*pool, 1s);
}

TEST_F(MemoryReleaseTest, ASmallBurstOrAnOptedOutPoolReleasesNothing) {
  auto small = echo.builder_for(echo.server.endpoint()).with_max_connections(20).build(io.executor());
  busy(*small, 20);  // 12 cooled at rest: below the 32 that make a release worth it
  auto opted_out = echo.builder_for(echo.server.endpoint())
                       .with_max_connections(64)
                       .with_release_memory_at_rest(false)
                       .build(io.executor());
  busy(*opted_out, 64);
  opted_out->run_cleanup_once();
  std::this_thread::sleep_for(750ms);  // three times the quiet period a release waits for
  EXPECT_EQ(small->stats().memory_releases, 0u);
  EXPECT_EQ(opted_out->stats().memory_releases, 0u);
  // The counter is exported from zero, so that rate() works before the first release.
  MetricFamilies families;
  collect_pool_metrics(*small, families);
  EXPECT_NE(families.render().find("securechannel_memory_releases_total{endpoint=\"" + echo.server.endpoint() + "\"} 0\n"),
            std::string::npos)
      << families.render();
  testing::shutdown(*small, 1s);
  testing::shutdown(*opted_out, 1s);
}

}  // namespace
}  // namespace securechannel
