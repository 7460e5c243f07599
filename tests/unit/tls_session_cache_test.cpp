// The client session cache: single use, newest first, bounded per server, expired tickets
// dropped, and the "worth waiting for tickets" signal with its give-up rule.
#include "tls/tls_session_cache.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <ctime>
#include <string>

namespace securechannel::detail {
namespace {

// A resumable session whose id is `id` (an id makes OpenSSL consider it resumable).
SSL_SESSION* session_with_id(unsigned char id, long lifetime_seconds = 3600, std::time_t issued = std::time(nullptr)) {
  SSL_SESSION* session = SSL_SESSION_new();
  const unsigned char bytes[1] = {id};
  SSL_SESSION_set1_id(session, bytes, sizeof bytes);
  SSL_SESSION_set_time(session, static_cast<long>(issued));
  SSL_SESSION_set_timeout(session, lifetime_seconds);
  return session;
}

unsigned char id_of(const SSL_SESSION* session) {
  unsigned int length = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &length);
  return length == 1 ? id[0] : 0;
}

// Takes a ticket and returns its id (0: none), freeing it.
unsigned char take_id(TlsSessionCache& cache, const std::string& server) {
  SSL_SESSION* session = cache.take(server);
  if (session == nullptr) return 0;
  const unsigned char id = id_of(session);
  SSL_SESSION_free(session);
  return id;
}

TEST(TlsSessionCacheTest, EachTicketIsHandedOutOnceNewestFirst) {
  TlsSessionCache cache(4);
  cache.offer("relay:443", session_with_id(1));
  cache.offer("relay:443", session_with_id(2));
  EXPECT_EQ(take_id(cache, "relay:443"), 2);
  EXPECT_EQ(take_id(cache, "relay:443"), 1);
  EXPECT_EQ(take_id(cache, "relay:443"), 0) << "tickets are single-use";
}

TEST(TlsSessionCacheTest, ServersAreKeptApart) {
  TlsSessionCache cache(4);
  cache.offer("relay:443", session_with_id(1));
  EXPECT_EQ(take_id(cache, "relay:8443"), 0);
  EXPECT_EQ(take_id(cache, "other:443"), 0);
  EXPECT_EQ(take_id(cache, "relay:443"), 1);
}

TEST(TlsSessionCacheTest, AFullListDropsItsOldestTicket) {
  TlsSessionCache cache(2);
  for (unsigned char id = 1; id <= 3; ++id) cache.offer("relay:443", session_with_id(id));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(take_id(cache, "relay:443"), 3);
  EXPECT_EQ(take_id(cache, "relay:443"), 2);
  EXPECT_EQ(take_id(cache, "relay:443"), 0);
}

TEST(TlsSessionCacheTest, ExpiredAndUnresumableTicketsAreSkipped) {
  TlsSessionCache cache(4);
  cache.offer("relay:443", session_with_id(1));
  cache.offer("relay:443", SSL_SESSION_new());  // no id, no ticket: cannot resume
  cache.offer("relay:443", session_with_id(3, 60, std::time(nullptr) - 120));  // expired a minute ago
  EXPECT_EQ(take_id(cache, "relay:443"), 1);
  EXPECT_EQ(cache.size(), 0u) << "the skipped tickets are freed, not kept";
}

TEST(TlsSessionCacheTest, WantsTicketsBelowHalfFull) {
  TlsSessionCache cache(4);
  EXPECT_TRUE(cache.wants_tickets("relay:443"));
  cache.offer("relay:443", session_with_id(1));
  EXPECT_TRUE(cache.wants_tickets("relay:443"));
  cache.offer("relay:443", session_with_id(2));
  EXPECT_FALSE(cache.wants_tickets("relay:443"));
  EXPECT_EQ(cache.tickets_received("relay:443"), 2u);
}

TEST(TlsSessionCacheTest, StopsWaitingForAServerThatIssuesNoTickets) {
  TlsSessionCache cache(4);
  for (int wait = 0; wait < 3; ++wait) {
    ASSERT_TRUE(cache.wants_tickets("quiet:443"));
    cache.record_ticket_wait("quiet:443", false);
  }
  EXPECT_FALSE(cache.wants_tickets("quiet:443"));
  cache.offer("quiet:443", session_with_id(1));  // it does issue some after all
  EXPECT_TRUE(cache.wants_tickets("quiet:443"));
}

}  // namespace
}  // namespace securechannel::detail
