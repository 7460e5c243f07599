// SecureChannelPool against our own TLS echo server: reuse, limits, waiting, stale connections,
// circuit breaking, verification failures, rotation, warm-up and shutdown.
#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "io_thread.hpp"
#include "pool/lease_internals.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <tuple>

#include <sys/socket.h>

namespace securechannel {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::eventually;

boost::system::error_code acquire_error(const std::shared_ptr<SecureChannelPool>& pool) {
  return testing::acquire_error(*pool);
}

class PoolEchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_options.certificate_file = leaf.certificate_file;
    server_options.key_file = leaf.key_file;
    server = std::make_unique<demo::TlsEchoServer>(server_options);
  }

  PoolBuilder builder() { return builder_for(server->endpoint()); }

  // A pool trusting only the test CA, for an endpoint where the server may be down.
  PoolBuilder builder_for(const std::string& endpoint) {
    PoolBuilder b(endpoint);
    b.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return b;
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  demo::TlsEchoServerOptions server_options;
  std::unique_ptr<demo::TlsEchoServer> server;
  testing::IoThread io;
};

TEST_F(PoolEchoTest, SequentialExchangesReuseOneConnection) {
  auto pool = builder().build(io.executor());
  for (int i = 0; i < 100; ++i) {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(lease.reused(), i > 0);
    EXPECT_EQ(testing::echo_exchange(lease, "ping " + std::to_string(i)), "ping " + std::to_string(i));
  }
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.connections_created, 1u);
  EXPECT_EQ(stats.acquires, 100u);
  EXPECT_EQ(stats.reuses, 99u);
  EXPECT_EQ(server->accepted_connections(), 1u);
  const auto connections = pool->connection_snapshots();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].round_trips, 100u);
  EXPECT_GT(connections[0].p95_latency_ms, 0.0);
  EXPECT_EQ(connections[0].tls_version, "TLSv1.3");
}

TEST_F(PoolEchoTest, ConcurrentAcquiresNeverExceedMaxConnections) {
  auto pool = builder().with_max_connections(10).with_acquire_timeout(30s).build(io.executor());
  std::atomic<int> completed{0};
  std::atomic<int> failed{0};
  std::atomic<std::size_t> most_leased{0};
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        io.executor(),
        [&, i]() -> asio::awaitable<void> {
          try {
            Lease lease = co_await pool->async_acquire(asio::use_awaitable);
            const std::size_t leased = pool->stats().leased_connections;
            for (std::size_t seen = most_leased; leased > seen && !most_leased.compare_exchange_weak(seen, leased);) {
            }
            const std::string message = "request " + std::to_string(i);
            co_await async_write_all(lease, asio::buffer(message), asio::use_awaitable);
            std::string reply(message.size(), '\0');
            co_await async_read_exact(lease, asio::buffer(reply), asio::use_awaitable);
            if (reply == message) ++completed; else ++failed;
          } catch (const std::exception&) {
            ++failed;
          }
        },
        asio::detached);
  }
  ASSERT_TRUE(eventually([&] { return completed + failed == 200; }));
  EXPECT_EQ(completed, 200);
  EXPECT_LE(server->max_open_connections(), 10u) << "sockets open at once, counted by the server";
  EXPECT_LE(most_leased.load(), 10u);
  EXPECT_LE(pool->stats().connections_created, 10u);
  EXPECT_EQ(pool->stats().acquires, 200u);
}

TEST_F(PoolEchoTest, FullPoolTimesOutWaitersAndRejectsBeyondMaxPending) {
  auto pool = builder().with_max_connections(1).with_max_pending(1).with_acquire_timeout(200ms).build(io.executor());
  Lease held = testing::acquire(*pool);
  auto waiting = testing::start_acquire(*pool);  // the one allowed waiter
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 1; }));
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::pool_exhausted));
  EXPECT_EQ(waiting.error.get(), make_error_code(errc::acquire_timeout));
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.pool_exhausted, 1u);
  EXPECT_EQ(stats.acquire_timeouts, 1u);
  EXPECT_EQ(stats.pending_acquires, 0u);
}

TEST_F(PoolEchoTest, ReleaseHandsConnectionToOldestWaiter) {
  auto pool = builder().with_max_connections(1).with_acquire_timeout(10s).build(io.executor());
  Lease held = testing::acquire(*pool);
  const auto first_id = held.connection_id();
  auto first_waiter = testing::start_acquire(*pool);
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 1; }));
  auto second_waiter = testing::start_acquire(*pool);
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 2; }));
  held.release();
  ASSERT_FALSE(first_waiter.error.get());
  EXPECT_EQ(first_waiter.lease->connection_id(), first_id);
  EXPECT_EQ(second_waiter.error.wait_for(50ms), std::future_status::timeout) << "second in line must still wait";
  first_waiter.lease->release();
  ASSERT_FALSE(second_waiter.error.get());
  EXPECT_EQ(second_waiter.lease->connection_id(), first_id);
}

TEST_F(PoolEchoTest, CancelledWaiterLeavesTheLineAndTheNextIsServed) {
  auto pool = builder().with_max_connections(1).with_acquire_timeout(30s).build(io.executor());
  Lease held = testing::acquire(*pool);
  asio::cancellation_signal cancel;
  std::promise<boost::system::error_code> cancelled;
  pool->async_acquire(asio::bind_cancellation_slot(
      cancel.slot(), [&](boost::system::error_code error, Lease) { cancelled.set_value(error); }));
  auto next = testing::start_acquire(*pool);
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 2; }));

  cancel.emit(asio::cancellation_type::terminal);
  EXPECT_EQ(cancelled.get_future().get(), make_error_code(asio::error::operation_aborted));
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.pending_acquires, 1u);
  EXPECT_EQ(stats.acquires_cancelled, 1u);

  held.release();
  ASSERT_FALSE(next.error.get()) << "the connection goes to the one still in line";
  cancel.emit(asio::cancellation_type::terminal);  // after the fact: nothing to cancel
  stats = pool->stats();
  EXPECT_EQ(stats.acquires_cancelled, 1u);
  EXPECT_EQ(stats.acquires, 2u);
}

// A timeout lowered while someone waits applies to the callers after, who must not wait behind
// the earlier caller's longer deadline.
TEST_F(PoolEchoTest, LoweredAcquireTimeoutIsKeptBehindALongerWait) {
  auto pool = builder().with_max_connections(1).with_acquire_timeout(30s).build(io.executor());
  Lease held = testing::acquire(*pool);
  auto patient = testing::start_acquire(*pool);
  ASSERT_TRUE(eventually([&] { return pool->stats().pending_acquires == 1; }));
  PoolLimits limits = pool->limits();
  limits.acquire_timeout = 200ms;
  const std::optional<ConfigError> refused = pool->update_limits(limits);
  ASSERT_FALSE(refused) << refused->what();
  auto hurried = testing::start_acquire(*pool);
  ASSERT_EQ(hurried.error.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(hurried.error.get(), make_error_code(errc::acquire_timeout));
  EXPECT_EQ(patient.error.wait_for(0ms), std::future_status::timeout) << "the first caller keeps its 30 s";
  held.release();
  EXPECT_FALSE(patient.error.get());
}

TEST_F(PoolEchoTest, ConnectionClosedByServerIsReplacedAtCheckout) {
  auto pool = builder().with_validate_after_inactivity(0ms).build(io.executor());
  {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(testing::echo_exchange(lease, "before"), "before");
  }
  server->close_all_connections();  // like a server keep-alive timeout, with close_notify
  Lease lease = testing::acquire(*pool);
  EXPECT_EQ(testing::echo_exchange(lease, "after"), "after");
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.stale_discarded, 1u);
  EXPECT_EQ(stats.connections_created, 2u);
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(server->accepted_connections(), 2u);
}

TEST_F(PoolEchoTest, ServerIdleTimeoutIsDetectedWithoutFailingTheCaller) {
  server.reset();
  server_options.idle_close_after = 100ms;
  server = std::make_unique<demo::TlsEchoServer>(server_options);
  auto pool = builder().with_validate_after_inactivity(0ms).build(io.executor());
  testing::acquire(*pool).release();
  ASSERT_TRUE(eventually([&] { return server->open_connections() == 0; }));
  Lease lease = testing::acquire(*pool);
  EXPECT_EQ(testing::echo_exchange(lease, "fresh"), "fresh");
  EXPECT_EQ(pool->stats().stale_discarded, 1u);
}

TEST_F(PoolEchoTest, BrokenLeaseClosesItsConnection) {
  auto pool = builder().build(io.executor());
  std::uint64_t first_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    first_id = lease.connection_id();
    lease.mark_broken();
  }
  EXPECT_EQ(pool->stats().closed_broken, 1u);
  Lease lease = testing::acquire(*pool);
  EXPECT_NE(lease.connection_id(), first_id);
  EXPECT_EQ(testing::echo_exchange(lease, "x"), "x");
}

TEST_F(PoolEchoTest, UnreadResponseNeverReachesTheNextLease) {
  auto pool = builder().build(io.executor());
  {
    Lease lease = testing::acquire(*pool);
    // A first full exchange makes OpenSSL consume the server's session tickets, so that the
    // bytes waited for below are the echo itself.
    EXPECT_EQ(testing::echo_exchange(lease, "ZERO"), "ZERO");
    EXPECT_FALSE(testing::operation_error(
        [&](auto handler) { async_write_all(lease, asio::buffer(std::string("ONE")), handler); }));
    ASSERT_TRUE(eventually([&] { return server->bytes_received() == 7u; }));
    // Give the echo time to come back: wait until the kernel holds it for us.
    ASSERT_TRUE(eventually([&] {
      char byte;
      return ::recv(detail::LeaseInternals::channel(lease).socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
    }));
  }  // released with the reply unread
  EXPECT_EQ(pool->stats().closed_abandoned, 1u);
  Lease next = testing::acquire(*pool);
  EXPECT_EQ(testing::echo_exchange(next, "TWO"), "TWO");
}

// HttpClient skips its probe before reusing a connection when the read that ended the last
// exchange found the socket empty moments ago: that read saw what the probe would have. So the
// mark must mean exactly that: set by a read that came back short, gone with the next write or
// once the moment has passed.
TEST_F(PoolEchoTest, AReadThatEmptiesTheSocketStandsForAProbeOnlyMomentsAndUntilTheNextWrite) {
  auto pool = builder().build(io.executor());
  Lease lease = testing::acquire(*pool);
  const SecureChannel& channel = lease.channel();
  EXPECT_FALSE(channel.emptied_by_last_read()) << "nothing was read after the handshake";
  EXPECT_FALSE(testing::operation_error(
      [&](auto handler) { async_write_all(lease, asio::buffer(std::string("ONE")), handler); }));
  EXPECT_FALSE(channel.emptied_by_last_read());
  std::string reply(3, '\0');
  EXPECT_FALSE(testing::operation_error([&](auto handler) { async_read_exact(lease, asio::buffer(reply), handler); }));
  EXPECT_EQ(reply, "ONE");
  EXPECT_TRUE(channel.emptied_by_last_read()) << "3 bytes of echo came into room for 16 KB";

  std::this_thread::sleep_for(2 * detail::LeaseInternals::moments);
  EXPECT_FALSE(detail::LeaseInternals::emptied_moments_ago(lease)) << "the moment has passed: probe again";

  boost::system::error_code error;
  EXPECT_EQ(lease.write_some_now(asio::buffer(std::string_view("TWO")), error), 3u);
  EXPECT_FALSE(channel.emptied_by_last_read()) << "a reply to the write may be on its way";
  EXPECT_FALSE(detail::LeaseInternals::emptied_moments_ago(lease));
  EXPECT_FALSE(testing::operation_error([&](auto handler) { async_read_exact(lease, asio::buffer(reply), handler); }));
  EXPECT_EQ(reply, "TWO");
}

TEST_F(PoolEchoTest, UpdatedLimitsApplyAtOnce) {
  auto pool = builder().with_max_connections(4).build(io.executor());
  {
    Lease a = testing::acquire(*pool);
    Lease b = testing::acquire(*pool);
    Lease c = testing::acquire(*pool);
  }  // three idle connections
  ASSERT_EQ(pool->stats().idle_connections, 3u);

  PoolLimits limits = pool->limits();
  limits.max_connections = 1;
  std::optional<ConfigError> refused = pool->update_limits(limits);
  ASSERT_FALSE(refused) << refused->what();
  EXPECT_EQ(pool->limits().max_connections, 1u);
  EXPECT_EQ(pool->config().max_connections, 4u) << "config() stays as built";
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().total_connections == 1; }))
      << "idle connections above the new limit close at once";

  limits.min_idle = 3;  // above max_connections: refused, nothing changes
  refused = pool->update_limits(limits);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->field(), "min_idle") << refused->what();
  EXPECT_EQ(pool->limits().min_idle, 0u);

  limits.max_connections = 4;  // room again, and a warm set to keep: connects start now
  refused = pool->update_limits(limits);
  ASSERT_FALSE(refused) << refused->what();
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().idle_connections == 3; }));
}

// The pool's own lines reach the configured sink with the pool's namespace, its endpoint and
// the connection they are about (the daemon turns these into JSON fields).
TEST_F(PoolEchoTest, LogLinesReachTheSinkWithPoolAndConnection) {
  const std::string endpoint = server->endpoint();
  std::mutex mutex;
  std::vector<std::tuple<LogLevel, std::string, std::string, std::uint64_t, std::string>> lines;
  auto pool = builder_for(endpoint)
                  .with_namespace("relay_log")
                  .with_log_sink([&](const PoolLogLine& line) {
                    std::lock_guard lock(mutex);
                    lines.emplace_back(line.level, std::string(line.pool), std::string(line.endpoint),
                                       line.connection_id, std::string(line.message));
                  })
                  .build(io.executor());
  server.reset();  // nothing listens: the connect fails
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::connect_refused));
  std::lock_guard lock(mutex);
  ASSERT_EQ(lines.size(), 1u);
  const auto& [level, pool_name, line_endpoint, connection_id, message] = lines.front();
  EXPECT_EQ(level, LogLevel::warn);
  EXPECT_EQ(pool_name, "relay_log");
  EXPECT_EQ(line_endpoint, endpoint);
  EXPECT_NE(connection_id, 0u);
  EXPECT_EQ(message.rfind("connect to " + endpoint + " failed: ", 0), 0u) << message;
}

TEST_F(PoolEchoTest, WaitersGetTheirOwnConnectAfterAFailedOne) {
  const std::uint16_t port = server->port();
  auto pool = builder_for("127.0.0.1:" + std::to_string(port))
                  .with_max_connections(2)
                  .with_acquire_timeout(20s)
                  .with_circuit_breaker_failure_threshold(100)
                  .build(io.executor());
  Lease held = testing::acquire(*pool);
  server.reset();  // upstream down
  auto first = testing::start_acquire(*pool);
  auto second = testing::start_acquire(*pool);
  EXPECT_EQ(first.error.get(), make_error_code(errc::connect_refused));
  // The second caller's own attempt fails too, and it hears so at once, not at acquire_timeout.
  EXPECT_EQ(second.error.get(), make_error_code(errc::connect_refused));
  EXPECT_EQ(pool->stats().pending_acquires, 0u);
}

TEST_F(PoolEchoTest, TryAcquireReturnsOnlyIdleConnections) {
  auto pool = builder().build(io.executor());
  EXPECT_FALSE(pool->try_acquire().has_value()) << "try_acquire never connects";
  testing::acquire(*pool).release();
  auto lease = pool->try_acquire();
  ASSERT_TRUE(lease.has_value());
  EXPECT_TRUE(lease->reused());
  EXPECT_FALSE(pool->try_acquire().has_value());
}

TEST_F(PoolEchoTest, WrongHostnameFailsVerificationBeforeAnyByteIsSent) {
  auto pool = builder().with_server_name("wrong.example").build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::certificate_verify_failed));
  const ConnectFailure failure = pool->last_connect_failure();
  EXPECT_EQ(failure.tls.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_NE(failure.describe().find("hostname mismatch"), std::string::npos) << failure.describe();
  EXPECT_EQ(server->bytes_received(), 0u);
  EXPECT_EQ(pool->stats().errors_by_kind.at("certificate_verify_failed"), 1u);
}

TEST_F(PoolEchoTest, ACommonNameWithoutSubjectAltNamesIsNotAnIdentity) {
  // RFC 9525 and the CA/Browser Forum baseline: the name is checked against subjectAltName only.
  // A certificate naming the host in its subject CN alone, as old or home-made ones do, is refused.
  demo::CertificateOptions cn_only;
  cn_only.common_name = "localhost";
  cn_only.dns_names = {};
  cn_only.ip_addresses = {};
  const demo::IssuedCertificate cn_leaf = authority.issue("cn-only", cn_only);
  demo::TlsEchoServer cn_server({.certificate_file = cn_leaf.certificate_file, .key_file = cn_leaf.key_file});
  auto pool = builder_for(cn_server.endpoint()).with_server_name("localhost").build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::certificate_verify_failed));
  const ConnectFailure failure = pool->last_connect_failure();
  EXPECT_EQ(failure.tls.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_NE(failure.describe().find("hostname mismatch"), std::string::npos) << failure.describe();
  EXPECT_EQ(cn_server.bytes_received(), 0u);
}

TEST_F(PoolEchoTest, UnknownCertificateAuthorityFailsVerification) {
  demo::CertificateAuthority stranger = demo::CertificateAuthority::create("someone else");
  auto pool = PoolBuilder(server->endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(stranger.ca_certificate_file().string())
                  .build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::certificate_verify_failed));
  EXPECT_EQ(pool->last_connect_failure().tls.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(server->bytes_received(), 0u);
}

TEST_F(PoolEchoTest, SystemStoreAloneDoesNotTrustAPrivateCa) {
  auto pool = PoolBuilder(server->endpoint()).build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::certificate_verify_failed));
}

TEST_F(PoolEchoTest, ExpiredCertificateIsRefused) {
  demo::CertificateOptions expired;
  expired.valid_from_offset = -std::chrono::hours(48);
  expired.valid_until_offset = -std::chrono::hours(24);
  const auto old_leaf = authority.issue("expired", expired);
  demo::TlsEchoServerOptions options;
  options.certificate_file = old_leaf.certificate_file;
  options.key_file = old_leaf.key_file;
  demo::TlsEchoServer expired_server(options);
  auto pool = PoolBuilder(expired_server.endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::certificate_verify_failed));
  EXPECT_EQ(pool->last_connect_failure().tls.verify_result, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(PoolEchoTest, MinIdleWarmUpOpensConnectionsAhead) {
  auto pool = builder().with_min_idle(3).build(io.executor());
  EXPECT_EQ(pool->stats().total_connections, 0u) << "building a pool starts nothing";
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 3; }));
  EXPECT_TRUE(eventually([&] { return server->completed_handshakes() == 3u; }));
  Lease lease = testing::acquire(*pool);
  EXPECT_EQ(pool->stats().connections_created, 3u) << "the acquire was served warm";
}

TEST_F(PoolEchoTest, LargeWarmUpProceedsAFewConnectsAtATime) {
  auto pool = builder().with_min_idle(40).build(io.executor());
  pool->warm_up();
  EXPECT_LE(pool->stats().connecting_connections, 16u);
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 40; }));
  EXPECT_LE(server->max_open_connections(), 40u);
  EXPECT_EQ(pool->stats().connections_created, 40u);
}

TEST_F(PoolEchoTest, MaxLifetimeRotatesIdleAndRetiresLeasedConnections) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder().with_clock(clock).with_max_lifetime(10s).with_min_idle(1).build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 1; }));
  clock->advance(11s);
  EXPECT_EQ(pool->run_cleanup_once(), 1u);
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 1; })) << "min_idle top-up";
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.closed_max_lifetime, 1u);
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(pool->connection_snapshots().at(0).reconnects, 1u);

  Lease lease = testing::acquire(*pool);
  clock->advance(11s);
  pool->run_cleanup_once();
  EXPECT_EQ(pool->stats().leased_connections, 1u) << "never closed under a lease";
  EXPECT_EQ(testing::echo_exchange(lease, "still fine"), "still fine");
  lease.release();
  EXPECT_EQ(pool->stats().closed_max_lifetime, 2u);
}

TEST_F(PoolEchoTest, IdleTimeoutTrimsDownToMinIdle) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder().with_clock(clock).with_idle_timeout(30s).with_min_idle(1).build(io.executor());
  {
    Lease a = testing::acquire(*pool);
    Lease b = testing::acquire(*pool);
    Lease c = testing::acquire(*pool);
  }
  ASSERT_EQ(pool->stats().idle_connections, 3u);
  clock->advance(31s);
  EXPECT_EQ(pool->run_cleanup_once(), 2u);
  EXPECT_EQ(pool->stats().idle_connections, 1u);
  EXPECT_EQ(pool->stats().closed_idle_timeout, 2u);
}

TEST_F(PoolEchoTest, EstablishedFlagResetsWhenThePoolEmpties) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder().with_clock(clock).with_idle_timeout(1s).build(io.executor());
  testing::acquire(*pool).release();
  EXPECT_TRUE(pool->stats().established);
  clock->advance(2s);
  pool->run_cleanup_once();
  EXPECT_EQ(pool->stats().total_connections, 0u);
  EXPECT_FALSE(pool->stats().established);
}

TEST_F(PoolEchoTest, SlowConnectionsAreRecycledByTheLatencyThreshold) {
  auto pool = builder().with_latency_threshold(50ms).build(io.executor());
  {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(testing::echo_exchange(lease, "fast"), "fast");
    pool->run_cleanup_once();
  }
  EXPECT_EQ(pool->run_cleanup_once(), 0u) << "one fast sample is no reason to recycle";
  {
    Lease lease = testing::acquire(*pool);
    for (int i = 0; i < 5; ++i) lease.stats().record_round_trip(200ms);  // as a slow upstream would
    EXPECT_FALSE(pool->connection_snapshots().at(0).is_healthy);
  }
  EXPECT_EQ(pool->run_cleanup_once(), 1u);
  EXPECT_EQ(pool->stats().closed_latency, 1u);
}

TEST_F(PoolEchoTest, BackgroundReconnectsBackOffWithJitter) {
  const std::uint16_t port = server->port();
  server.reset();
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder_for("127.0.0.1:" + std::to_string(port))
                  .with_clock(clock)
                  .with_random(std::make_shared<SequenceRandomSource>(std::initializer_list<double>{0.5}))
                  .with_reconnect_backoff(1s, 30s)
                  .with_circuit_breaker_failure_threshold(100)
                  .with_min_idle(1)
                  .build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().connect_failures == 1; }));
  pool->warm_up();  // first failure: wait uniform(0, 1 s) = 500 ms here
  EXPECT_EQ(pool->stats().connecting_connections, 0u) << "still backing off";
  clock->advance(501ms);
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().connect_failures == 2; }));
  clock->advance(900ms);  // second failure: uniform(0, 2 s) = 1 s
  pool->warm_up();
  EXPECT_EQ(pool->stats().connecting_connections, 0u);
  server_options.port = port;
  server = std::make_unique<demo::TlsEchoServer>(server_options);
  clock->advance(101ms);
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 1; }));
}

TEST_F(PoolEchoTest, CircuitBreakerOpensFailsFastAndRecoversThroughOneProbe) {
  const std::uint16_t port = server->port();
  server.reset();  // nothing listens on the port now
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder_for("127.0.0.1:" + std::to_string(port))
                  .with_clock(clock)
                  .with_circuit_breaker_failure_threshold(3)
                  .with_circuit_breaker_cooldown(60s)
                  .build(io.executor());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(acquire_error(pool), make_error_code(errc::connect_refused));
  EXPECT_EQ(pool->stats().circuit_state, CircuitState::open);
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::circuit_open));
  EXPECT_EQ(pool->stats().connect_failures, 3u) << "no connect attempted while open";

  server_options.port = port;  // the upstream comes back on the same port
  server = std::make_unique<demo::TlsEchoServer>(server_options);
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::circuit_open)) << "cooldown not over yet";
  clock->advance(61s);
  Lease probe = testing::acquire(*pool);
  EXPECT_EQ(pool->stats().circuit_state, CircuitState::closed);
  EXPECT_EQ(testing::echo_exchange(probe, "back"), "back");
  EXPECT_EQ(pool->stats().circuit_open_rejections, 2u);
}

TEST_F(PoolEchoTest, FailedProbeReopensTheBreaker) {
  const std::uint16_t port = server->port();
  server.reset();
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder_for("127.0.0.1:" + std::to_string(port))
                  .with_clock(clock)
                  .with_circuit_breaker_failure_threshold(1)
                  .build(io.executor());
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::connect_refused));
  clock->advance(61s);
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::connect_refused)) << "the probe";
  EXPECT_EQ(pool->stats().circuit_state, CircuitState::open);
  EXPECT_EQ(acquire_error(pool), make_error_code(errc::circuit_open));
}

TEST_F(PoolEchoTest, ShutdownClosesEverythingAndLeaksNoDescriptor) {
  {
    // Asio's resolver keeps a private scheduler (three descriptors) for the io_context's life;
    // start it before counting so that only the pool's own descriptors are compared.
    auto warm = builder().build(io.executor());
    testing::acquire(*warm).release();
    testing::shutdown(*warm, 0ms);
  }
  ASSERT_TRUE(eventually([&] { return server->open_connections() == 0; }));
  const std::size_t descriptors_before = testing::count_open_file_descriptors();
  {
    auto pool = builder().with_max_connections(5).build(io.executor());
    std::vector<Lease> leases;
    for (int i = 0; i < 5; ++i) leases.push_back(testing::acquire(*pool));
    Lease kept = std::move(leases.back());
    leases.pop_back();
    leases.clear();  // four idle, one leased
    // Client and server share this process: each connection is two descriptors.
    EXPECT_EQ(testing::count_open_file_descriptors(), descriptors_before + 10);
    auto done = testing::start_shutdown(*pool, 100ms);
    EXPECT_EQ(acquire_error(pool), make_error_code(errc::shutting_down));
    done.get();  // returns after the grace period closed the leased socket too
    EXPECT_TRUE(testing::echo_error(kept, "too late")) << "its socket was closed under it";
    kept.release();
    EXPECT_EQ(pool->stats().total_connections, 0u);
  }
  ASSERT_TRUE(eventually([&] { return server->open_connections() == 0; }));
  EXPECT_EQ(testing::count_open_file_descriptors(), descriptors_before);
}

TEST_F(PoolEchoTest, ShutdownWaitsForLeasesReturnedWithinGrace) {
  auto pool = builder().build(io.executor());
  Lease lease = testing::acquire(*pool);
  auto done = testing::start_shutdown(*pool, 10s);
  EXPECT_EQ(done.wait_for(20ms), std::future_status::timeout);
  EXPECT_EQ(testing::echo_exchange(lease, "in grace"), "in grace");
  lease.release();
  done.get();
  EXPECT_EQ(pool->stats().total_connections, 0u);
}

}  // namespace
}  // namespace securechannel

namespace securechannel {
namespace {

// OpenSSL's own socket BIO writes with write(2): a write after the peer reset the connection
// raised SIGPIPE and killed the process. Ours sends with MSG_NOSIGNAL: the write fails instead.
TEST_F(PoolEchoTest, WritingAfterThePeerWentAwayFailsInsteadOfRaisingSigpipe) {
  auto pool = builder().with_validate_after_inactivity(std::chrono::hours(1)).build(io.executor());
  Lease lease = testing::acquire(*pool);
  ASSERT_FALSE(testing::echo_error(lease, "before"));
  server->close_all_connections();
  boost::system::error_code error;
  const std::string payload(16 * 1024, 'x');
  for (int attempt = 0; attempt < 100 && !error; ++attempt) {
    error = testing::operation_error(
        [&](auto handler) { async_write_all(lease, boost::asio::buffer(payload), handler); });
  }
  EXPECT_TRUE(error) << "still alive, and the write reports the broken connection";
}

TEST_F(PoolEchoTest, OneReadReturnsEveryRecordThatHasArrived) {
  auto pool = builder().build(io.executor());
  Lease lease = testing::acquire(*pool);
  // One round trip first: the server's session tickets, sent after the handshake, are read with
  // its echo. Left in the socket, they would count below as bytes of the records awaited.
  ASSERT_FALSE(testing::echo_error(lease, "ping"));
  // Three writes are three records; the server echoes each as its own record.
  const std::string pieces[] = {"first ", "second ", "third"};
  std::size_t expected = 0;
  for (const std::string& piece : pieces) {
    ASSERT_FALSE(testing::operation_error(
        [&](auto handler) { async_write_all(lease, asio::buffer(piece), handler); }));
    expected += piece.size();
  }
  // A TLS 1.3 record adds 22 bytes (header, content type, tag): wait until all three are here.
  const std::size_t encrypted = expected + 3 * 22;
  ASSERT_TRUE(testing::eventually([&] { return detail::LeaseInternals::channel(lease).socket().available() >= encrypted; }));
  std::string reply(1024, '\0');
  const auto [error, bytes] = testing::complete([&](auto handler) { lease.async_read_some(asio::buffer(reply), handler); });
  ASSERT_FALSE(error) << error.message();
  // One SSL_read alone yields one record: "first " here, and two more completions for the rest.
  EXPECT_EQ(reply.substr(0, bytes), "first second third");
}

TEST_F(PoolEchoTest, WriteSomeNowSendsAtOnceAndItsErrorBreaksTheConnection) {
  auto pool = builder().build(io.executor());
  std::uint64_t first_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    first_id = lease.connection_id();
    boost::system::error_code error;
    EXPECT_EQ(lease.write_some_now(asio::buffer(std::string_view("hello")), error), 5u);
    ASSERT_FALSE(error) << error.message();
    std::string reply(16, '\0');
    const auto [read_error, bytes] =
        testing::complete([&](auto handler) { asio::async_read(lease, asio::buffer(reply, 5), handler); });
    ASSERT_FALSE(read_error) << read_error.message();
    EXPECT_EQ(reply.substr(0, bytes), "hello");
  }
  {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(lease.connection_id(), first_id) << "a clean write_some_now leaves the connection reusable";
    lease.abort();
    boost::system::error_code error;
    EXPECT_EQ(lease.write_some_now(asio::buffer(std::string_view("lost")), error), 0u);
    EXPECT_TRUE(error);
  }
  Lease next = testing::acquire(*pool);
  EXPECT_NE(next.connection_id(), first_id) << "the failed write returned its connection as broken";
}

// Other code on a thread may leave errors in OpenSSL's per-thread queue. SSL_get_error reads
// that queue, so a stale entry must never turn a read's "want more input" into a failure; the
// channel clears what it finds (and only then: clearing costs as much as a small record).
TEST_F(PoolEchoTest, ErrorsLeftInTheThreadsOpenSslQueueDoNotFailReadsOrWrites) {
  auto pool = builder().build(io.executor());
  Lease lease = testing::acquire(*pool);
  const auto leave_stale_error = [] { ERR_raise_data(ERR_LIB_SYS, 1, "left by other code"); };
  for (int round = 0; round < 3; ++round) {
    leave_stale_error();  // on this thread, which writes
    std::promise<void> left;
    asio::post(io.executor(), [&] {  // and on the io thread, which reads
      leave_stale_error();
      left.set_value();
    });
    left.get_future().get();
    boost::system::error_code error;
    EXPECT_EQ(lease.write_some_now(asio::buffer(std::string_view("hello")), error), 5u);
    ASSERT_FALSE(error) << error.message();
    EXPECT_EQ(ERR_peek_error(), 0u) << "the write cleared the stale error";
    std::string reply(5, '\0');
    const auto [read_error, bytes] =
        testing::complete([&](auto handler) { asio::async_read(lease, asio::buffer(reply), handler); });
    ASSERT_FALSE(read_error) << "round " << round << ": " << read_error.message();
    EXPECT_EQ(reply.substr(0, bytes), "hello");
  }
  EXPECT_TRUE(lease.channel().tls_failure().reason.empty()) << lease.channel().tls_failure().reason;
}

}  // namespace
}  // namespace securechannel
