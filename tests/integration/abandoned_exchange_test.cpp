// A reply goes to the caller that asked for it, never to the next one: a lease given back with a
// request written and its reply unread (a timeout, a cancel, an early return) closes its
// connection, whether or not the reply has arrived yet. The upstream echoes each request after a
// delay, so a request's reply is the request itself and a mix-up shows as someone else's bytes.
#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

class AbandonedExchangeTest : public ::testing::Test {
 protected:
  PoolBuilder builder() {
    PoolBuilder b(server.endpoint());
    b.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return b;
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  demo::TlsEchoServer server{
      {.certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .echo_delay = 150ms}};
  testing::IoThread io;
};

TEST_F(AbandonedExchangeTest, ACallerWhoGaveUpNeverHandsItsReplyToTheNext) {
  auto pool = builder().with_max_connections(1).build(io.executor());
  std::uint64_t first_id = 0;
  {
    Lease caller_a = testing::acquire(*pool);
    first_id = caller_a.connection_id();
    testing::throw_if(testing::operation_error([&](auto handler) {
                        async_write_all(caller_a, boost::asio::buffer(std::string("reply-for-A")), handler);
                      }),
                      "write");
  }  // A gives up before its reply (due in 150 ms) has arrived
  EXPECT_EQ(pool->stats().closed_abandoned, 1u);

  Lease caller_b = testing::acquire(*pool);
  EXPECT_NE(caller_b.connection_id(), first_id);
  EXPECT_EQ(testing::echo_exchange(caller_b, "reply-for-B"), "reply-for-B");
}

TEST_F(AbandonedExchangeTest, ManyCallersGivingUpAtRandomEachReadOnlyTheirOwnReply) {
  // Four threads share a pool of 4 connections; every third caller gives up after writing.
  // Every reply read must be the reader's own request.
  auto pool = builder().with_max_connections(4).with_acquire_timeout(30s).build(io.executor());
  std::atomic<int> own_replies{0};
  std::atomic<int> foreign_replies{0};
  std::atomic<int> gave_up{0};
  std::vector<std::thread> callers;
  for (int thread = 0; thread < 4; ++thread) {
    callers.emplace_back([&, thread] {
      for (int i = 0; i < 12; ++i) {
        const std::string request = "caller-" + std::to_string(thread) + "-request-" + std::to_string(i) + ";";
        Lease lease = testing::acquire(*pool);
        if ((i + thread) % 3 == 0) {
          testing::throw_if(testing::operation_error([&](auto handler) {
                              async_write_all(lease, boost::asio::buffer(request), handler);
                            }),
                            "write");
          gave_up.fetch_add(1);
          continue;  // released with its reply still on the way
        }
        if (testing::echo_exchange(lease, request) == request) {
          own_replies.fetch_add(1);
        } else {
          foreign_replies.fetch_add(1);
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(foreign_replies.load(), 0);
  EXPECT_EQ(own_replies.load() + gave_up.load(), 48);
  EXPECT_EQ(pool->stats().closed_abandoned, static_cast<std::uint64_t>(gave_up.load()));
}

TEST_F(AbandonedExchangeTest, AnsweredExchangesKeepTheirConnection) {
  // The other side of the rule: a caller that read its reply gives back a reusable connection.
  auto pool = builder().with_max_connections(1).build(io.executor());
  for (int i = 0; i < 3; ++i) {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(lease.reused(), i > 0);
    EXPECT_EQ(testing::echo_exchange(lease, "round-" + std::to_string(i)), "round-" + std::to_string(i));
  }
  EXPECT_EQ(pool->stats().closed_abandoned, 0u);
  EXPECT_EQ(server.accepted_connections(), 1u);
}

}  // namespace
}  // namespace securechannel
