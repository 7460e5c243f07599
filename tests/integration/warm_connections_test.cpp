// Warm and cold connections (SecureChannel::set_warm): a leased connection keeps its TLS buffers
// between exchanges, a cooled one gives them back after each, and a pool at rest keeps them only
// for its few most recently used idle connections. Measured on glibc's heap (mallinfo2), which
// is what an idle connection's 15 KB are counted in too.
#include "echo_upstream.hpp"
#include "heap_in_use.hpp"
#include "io_thread.hpp"
#include "pool/lease_internals.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// OpenSSL's read and write record buffers are about 16.7 KB each, our receive block 16.6 KB.
constexpr std::size_t record_buffers = 2 * 16 * 1024;

using testing::heap_in_use;

class WarmConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef SC_HEAP_REPLACED_BY_SANITIZER
    GTEST_SKIP() << "measures glibc's heap, which the sanitizer's allocator replaces";
#endif
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
};

TEST_F(WarmConnectionsTest, ALeasedConnectionKeepsItsBuffersUntilCooled) {
  auto pool = echo.builder_for(echo.server.endpoint()).with_max_connections(1).build(io.executor());
  Lease lease = testing::acquire(*pool);
  EXPECT_TRUE(lease.channel().warm()) << "leasing warms";
  ASSERT_EQ(testing::echo_exchange(lease, "ping"), "ping");
  const std::size_t warm_heap = heap_in_use();

  detail::LeaseInternals::channel(lease).set_warm(false);  // no operation is pending: the exchange has completed
  const std::size_t cold_heap = heap_in_use();
  EXPECT_GE(warm_heap - cold_heap, record_buffers) << "cooling gives the buffers back";

  ASSERT_EQ(testing::echo_exchange(lease, "pong"), "pong");
  EXPECT_LT(heap_in_use(), cold_heap + record_buffers / 2) << "a cold connection frees them after each exchange";

  detail::LeaseInternals::channel(lease).set_warm(true);
  ASSERT_EQ(testing::echo_exchange(lease, "ping again"), "ping again");
  EXPECT_GE(heap_in_use(), cold_heap + record_buffers) << "warm again: kept after the exchange";
  lease = Lease();
  testing::shutdown(*pool, 1s);
}

TEST_F(WarmConnectionsTest, APoolAtRestKeepsOnlyItsWarmFewIdleConnectionsBuffers) {
  constexpr std::size_t connections = 12;  // the pool keeps 8 warm
  auto pool = echo.builder_for(echo.server.endpoint()).with_max_connections(connections).build(io.executor());
  std::vector<Lease> leases;
  for (std::size_t i = 0; i < connections; ++i) leases.push_back(testing::acquire(*pool));
  for (Lease& lease : leases) ASSERT_EQ(testing::echo_exchange(lease, "busy"), "busy");
  const std::size_t busy_heap = heap_in_use();

  leases.clear();  // all back to the idle stack; the 4 that sink below the top 8 are cooled
  const std::size_t rest_heap = heap_in_use();
  ASSERT_EQ(pool->stats().idle_connections, connections);
  const std::size_t per_connection = record_buffers + 16 * 1024;  // both record buffers and the receive block
  EXPECT_GE(busy_heap - rest_heap, 4 * record_buffers) << "the 4 deepest gave their buffers back";
  EXPECT_LT(busy_heap - rest_heap, 6 * per_connection) << "the 8 on top kept theirs";
  testing::shutdown(*pool, 1s);
}

TEST_F(WarmConnectionsTest, ABusyPoolKeepsWarmAsManyIdleConnectionsAsItHadLeased) {
  constexpr std::size_t connections = 12;
  // Heap given back between two readings; noise is far below one connection's buffers.
  const auto freed = [](std::size_t before, std::size_t after) { return std::ptrdiff_t(before) - std::ptrdiff_t(after); };
  constexpr std::ptrdiff_t half_a_connection = record_buffers / 2;
  auto pool = echo.builder_for(echo.server.endpoint()).with_max_connections(connections).build(io.executor());
  std::vector<Lease> leases;
  for (std::size_t i = 0; i < connections; ++i) leases.push_back(testing::acquire(*pool));
  for (Lease& lease : leases) ASSERT_EQ(testing::echo_exchange(lease, "busy"), "busy");
  const std::size_t busy_heap = heap_in_use();
  // 11 come back while one is still out, as between two batches of requests: none is cooled,
  // since the next batch will want them all again.
  Lease last = std::move(leases.back());
  leases.clear();
  const std::size_t between_batches_heap = heap_in_use();
  EXPECT_LT(freed(busy_heap, between_batches_heap), half_a_connection) << "no idle connection gave its buffers back";
  // The maintenance pass judges the busy period over: 1 leased, so only the top 8 stay warm.
  pool->run_cleanup_once();
  const std::size_t after_cleanup_heap = heap_in_use();
  EXPECT_GE(freed(between_batches_heap, after_cleanup_heap), 3 * std::ptrdiff_t(record_buffers)) << "the 3 deepest were cooled";
  // Load comes back: the limit follows it again.
  for (std::size_t i = 0; i < connections - 1; ++i) leases.push_back(testing::acquire(*pool));
  for (Lease& lease : leases) ASSERT_EQ(testing::echo_exchange(lease, "again"), "again");
  const std::size_t busy_again_heap = heap_in_use();
  leases.clear();
  EXPECT_LT(freed(busy_again_heap, heap_in_use()), half_a_connection) << "still busy (one leased): all kept warm";
  // At rest, nothing leased: back to the few on top.
  const std::size_t before_rest_heap = heap_in_use();
  last = Lease();
  EXPECT_GE(freed(before_rest_heap, heap_in_use()), 4 * std::ptrdiff_t(record_buffers)) << "the 4 below the top 8 were cooled";
  testing::shutdown(*pool, 1s);
}

}  // namespace
}  // namespace securechannel
