// Connection affinity against our TLS echo server: 1,000 keys over 10 connections stay put
// across 100,000 exchanges from concurrent callers; a connection that dies moves only its own
// keys, and each of them is told; a caller waits for its key's busy connection ahead of the
// line, or moves when it allows; a key too long is refused.
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool/lease_internals.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

testing::AcquireOutcome acquire_with(SecureChannelPool& pool, Affinity affinity) {
  std::promise<testing::AcquireOutcome> outcome;
  auto result = outcome.get_future();
  pool.async_acquire(std::move(affinity), [&outcome](boost::system::error_code error, Lease lease) {
    outcome.set_value({error, std::move(lease)});
  });
  return result.get();
}

Lease keyed(SecureChannelPool& pool, const std::string& key) {
  testing::AcquireOutcome outcome = acquire_with(pool, {.key = key});
  testing::throw_if(outcome.error, "acquire");
  return std::move(outcome.lease);
}

// What concurrent callers saw, key by key.
struct KeyTally {
  explicit KeyTally(std::size_t keys) : connection_of(keys) {}
  std::vector<std::atomic<std::uint64_t>> connection_of;  // the key's connection at its first use
  std::atomic<std::uint64_t> exchanges{0};
  std::atomic<std::uint64_t> new_keys{0};
  std::atomic<std::uint64_t> elsewhere{0};  // a key on another connection than its first
  std::atomic<std::uint64_t> failures{0};
};

// One caller: acquire with a key, one echo round trip, release, the next key; every step a
// completion on the pool's threads.
class KeyedCaller : public std::enable_shared_from_this<KeyedCaller> {
 public:
  KeyedCaller(SecureChannelPool& pool, KeyTally& tally, std::size_t first_key, std::size_t stride, std::size_t requests)
      : pool_(pool), tally_(tally), key_(first_key), stride_(stride), requests_left_(requests) {}

  std::future<void> start() {
    auto finished = done_.get_future();
    next();
    return finished;
  }

 private:
  void next() {
    if (requests_left_-- == 0) return done_.set_value();
    key_ = (key_ + stride_) % tally_.connection_of.size();
    pool_.async_acquire(Affinity{.key = "relay-session-" + std::to_string(key_)},
                        [self = shared_from_this()](boost::system::error_code error, Lease lease) {
                          self->on_lease(error, std::move(lease));
                        });
  }

  void on_lease(boost::system::error_code error, Lease lease) {
    if (error) return fail();
    lease_ = std::move(lease);
    std::atomic<std::uint64_t>& first = tally_.connection_of[key_];
    if (lease_.affinity() == AffinityOutcome::new_key) {
      std::uint64_t unset = 0;
      if (!first.compare_exchange_strong(unset, lease_.connection_id())) ++tally_.elsewhere;
      ++tally_.new_keys;
    } else if (lease_.affinity() != AffinityOutcome::kept || first.load() != lease_.connection_id()) {
      ++tally_.elsewhere;
    }
    message_ = "key " + std::to_string(key_) + ".";
    async_write_all(lease_, boost::asio::buffer(message_), [self = shared_from_this()](boost::system::error_code e, std::size_t) {
      if (e) return self->fail();
      self->reply_.assign(self->message_.size(), '\0');
      async_read_exact(self->lease_, boost::asio::buffer(self->reply_),
                       [self](boost::system::error_code read_error, std::size_t) {
                         if (read_error || self->reply_ != self->message_) return self->fail();
                         ++self->tally_.exchanges;
                         self->lease_.release();
                         self->next();
                       });
    });
  }

  void fail() {
    ++tally_.failures;
    lease_.release();
    next();
  }

  SecureChannelPool& pool_;
  KeyTally& tally_;
  std::size_t key_;
  const std::size_t stride_;
  std::size_t requests_left_;
  Lease lease_;
  std::string message_;
  std::string reply_;
  std::promise<void> done_;
};

class PoolAffinityTest : public ::testing::Test {
 protected:
  PoolBuilder builder() { return upstream.builder_for(upstream.server.endpoint()); }

  testing::EchoUpstream upstream;
  testing::IoThread io{2};
};

TEST_F(PoolAffinityTest, AThousandKeysOverTenConnectionsStayPutAcrossAHundredThousandExchanges) {
  auto pool = builder().with_max_connections(10).with_min_idle(10).build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 10; }));

  constexpr std::size_t keys = 1000;
  constexpr std::size_t callers = 8;
  constexpr std::size_t exchanges = 100'000;
  KeyTally tally(keys);
  std::vector<std::future<void>> finished;
  // Coprime strides: the callers meet on the same keys and the same connections in every order.
  const std::array<std::size_t, callers> strides{1, 3, 7, 11, 13, 17, 19, 23};
  for (std::size_t caller = 0; caller < callers; ++caller) {
    finished.push_back(
        std::make_shared<KeyedCaller>(*pool, tally, caller * 125, strides[caller], exchanges / callers)->start());
  }
  for (auto& caller : finished) ASSERT_EQ(caller.wait_for(300s), std::future_status::ready);

  EXPECT_EQ(tally.failures.load(), 0u);
  EXPECT_EQ(tally.exchanges.load(), exchanges);
  EXPECT_EQ(tally.new_keys.load(), keys) << "each key is new once";
  EXPECT_EQ(tally.elsewhere.load(), 0u) << "no key ever left its first connection";
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.connections_created, 10u);
  EXPECT_EQ(stats.affinity_keys, keys);
  EXPECT_EQ(stats.affinity_moves, 0u);
  std::uint32_t bound = 0;
  for (const ConnectionSnapshot& connection : pool->connection_snapshots()) {
    // New keys go to the idle connection holding the fewest: they spread.
    EXPECT_GE(connection.affinity_keys, 25u) << "connection " << connection.connection_id;
    bound += connection.affinity_keys;
  }
  EXPECT_EQ(bound, keys);
  testing::shutdown(*pool, 1s);
}

TEST_F(PoolAffinityTest, AConnectionThatDiesMovesOnlyItsOwnKeysAndEachIsTold) {
  // Every checkout probes, so a connection cut underneath is found at its next use.
  auto pool = builder().with_max_connections(4).with_min_idle(4).with_validate_after_inactivity(0ms).build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 4; }));
  std::map<std::string, std::uint64_t> connection_of;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    Lease lease = keyed(*pool, key);
    EXPECT_EQ(lease.affinity(), AffinityOutcome::new_key);
    connection_of[key] = lease.connection_id();
  }
  const std::uint64_t victim = connection_of["k0"];
  {
    // Cut the victim's connection while it sits idle, as a peer's reset would.
    Lease lease = keyed(*pool, "k0");
    ASSERT_EQ(lease.connection_id(), victim);
    ASSERT_EQ(::shutdown(detail::LeaseInternals::channel(lease).socket().native_handle(), SHUT_RDWR), 0);
  }
  std::map<std::uint64_t, std::uint64_t> moved_to;
  int moved = 0;
  for (const auto& [key, first] : connection_of) {
    Lease lease = keyed(*pool, key);
    if (first == victim) {
      EXPECT_EQ(lease.affinity(), AffinityOutcome::moved) << key;
      EXPECT_NE(lease.connection_id(), victim) << key;
      ++moved;
    } else {
      EXPECT_EQ(lease.affinity(), AffinityOutcome::kept) << key;
      EXPECT_EQ(lease.connection_id(), first) << key;
    }
    EXPECT_EQ(testing::echo_exchange(lease, key), key);
  }
  EXPECT_GT(moved, 0);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.affinity_moves, static_cast<std::uint64_t>(moved));
  EXPECT_EQ(stats.stale_discarded, 1u);
  // Moved once, then they stay where they went.
  for (const auto& [key, first] : connection_of) EXPECT_EQ(keyed(*pool, key).affinity(), AffinityOutcome::kept) << key;
  testing::shutdown(*pool, 1s);
}

TEST_F(PoolAffinityTest, ACallerWaitsForItsKeysBusyConnectionAheadOfTheLine) {
  auto pool = builder().with_max_connections(1).build(io.executor());
  Lease holder = keyed(*pool, "session");
  const std::uint64_t own = holder.connection_id();
  testing::PendingAcquire anyone = testing::start_acquire(*pool);  // first in the general line
  auto same_key = std::make_shared<std::promise<testing::AcquireOutcome>>();
  auto same_key_result = same_key->get_future();
  pool->async_acquire(Affinity{.key = "session"}, [same_key](boost::system::error_code error, Lease lease) {
    same_key->set_value({error, std::move(lease)});
  });
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 2; }));
  holder.release();
  testing::AcquireOutcome served = same_key_result.get();
  ASSERT_FALSE(served.error) << served.error.message();
  EXPECT_EQ(served.lease.connection_id(), own);
  EXPECT_EQ(served.lease.affinity(), AffinityOutcome::kept);
  EXPECT_EQ(anyone.error.wait_for(100ms), std::future_status::timeout) << "the caller with the key came first";
  served.lease.release();
  EXPECT_FALSE(anyone.error.get());
  EXPECT_EQ(anyone.lease->affinity(), AffinityOutcome::none);
  anyone.lease->release();
  testing::shutdown(*pool, 1s);
}

TEST_F(PoolAffinityTest, ACallerThatMayMoveTakesAnotherConnectionAndTheKeyFollows) {
  auto pool = builder().with_max_connections(2).build(io.executor());
  Lease holder = keyed(*pool, "session");
  testing::AcquireOutcome moved = acquire_with(*pool, {.key = "session", .may_move = true});
  ASSERT_FALSE(moved.error) << moved.error.message();
  EXPECT_NE(moved.lease.connection_id(), holder.connection_id());
  EXPECT_EQ(moved.lease.affinity(), AffinityOutcome::moved);
  const std::uint64_t new_home = moved.lease.connection_id();
  moved.lease.release();
  holder.release();
  Lease again = keyed(*pool, "session");
  EXPECT_EQ(again.connection_id(), new_home);
  EXPECT_EQ(again.affinity(), AffinityOutcome::kept);
  EXPECT_EQ(pool->stats().affinity_moves, 1u);
  again.release();
  testing::shutdown(*pool, 1s);
}

TEST_F(PoolAffinityTest, ACallerWaitingForAConnectionThatClosesIsServedByAnotherAndTold) {
  auto pool = builder().with_max_connections(1).build(io.executor());
  Lease holder = keyed(*pool, "session");
  const std::uint64_t own = holder.connection_id();
  auto waiting = std::make_shared<std::promise<testing::AcquireOutcome>>();
  auto waited = waiting->get_future();
  pool->async_acquire(Affinity{.key = "session"}, [waiting](boost::system::error_code error, Lease lease) {
    waiting->set_value({error, std::move(lease)});
  });
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 1; }));
  holder.mark_broken();
  holder.release();  // closed: the caller waiting for it goes to the line, and a connect starts
  testing::AcquireOutcome served = waited.get();
  ASSERT_FALSE(served.error) << served.error.message();
  EXPECT_NE(served.lease.connection_id(), own);
  EXPECT_EQ(served.lease.affinity(), AffinityOutcome::moved);
  served.lease.release();
  testing::shutdown(*pool, 1s);
}

TEST_F(PoolAffinityTest, AWaitForABusyConnectionEndsAtTheAcquireTimeoutAndByCancellation) {
  auto pool = builder().with_max_connections(2).with_acquire_timeout(200ms).build(io.executor());
  Lease holder = keyed(*pool, "session");
  EXPECT_EQ(acquire_with(*pool, {.key = "session"}).error, errc::acquire_timeout)
      << "waits for its own connection, though another could be opened";
  EXPECT_EQ(pool->stats().connections_created, 1u);
  EXPECT_FALSE(pool->try_acquire(Affinity{.key = "session"})) << "never waits";
  EXPECT_FALSE(pool->try_acquire(Affinity{.key = "other"})) << "nothing idle, and try_acquire never connects";

  auto patient = builder().with_max_connections(1).build(io.executor());
  Lease patient_holder = keyed(*patient, "session");
  boost::asio::cancellation_signal cancel;
  std::promise<boost::system::error_code> cancelled;
  patient->async_acquire(Affinity{.key = "session"},
                         boost::asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code error, Lease) {
                           cancelled.set_value(error);
                         }));
  ASSERT_TRUE(eventually([&] { return patient->stats().pending_acquires == 1; }));
  cancel.emit(boost::asio::cancellation_type::terminal);
  EXPECT_EQ(cancelled.get_future().get(), boost::asio::error::operation_aborted);
  EXPECT_EQ(patient->stats().pending_acquires, 0u);
  EXPECT_EQ(patient->stats().acquires_cancelled, 1u);
  holder.release();
  patient_holder.release();
  testing::shutdown(*pool, 1s);
  testing::shutdown(*patient, 1s);
}

TEST_F(PoolAffinityTest, AKeyTooLongIsRefusedAndForgottenKeysAreCounted) {
  auto pool = builder().with_affinity_max_keys(2).build(io.executor());
  const std::string too_long(max_affinity_key_bytes + 1, 'k');
  EXPECT_EQ(acquire_with(*pool, {.key = too_long}).error, errc::affinity_key_too_long);
  EXPECT_FALSE(pool->try_acquire(Affinity{.key = too_long}));
  for (const char* key : {"a", "b", "c"}) EXPECT_EQ(keyed(*pool, key).affinity(), AffinityOutcome::new_key);
  EXPECT_EQ(keyed(*pool, "a").affinity(), AffinityOutcome::new_key) << "the least recently used, forgotten";
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.affinity_keys, 2u);
  EXPECT_EQ(stats.affinity_keys_evicted, 2u);
  testing::shutdown(*pool, 1s);
}

}  // namespace
}  // namespace securechannel
