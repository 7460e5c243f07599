// ConnectionBooks on its own: every move between states keeps the counts, the idle stack and
// the list positions right, and what leaves the list can be found no more.
#include "pool/connection_books.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace securechannel::detail {
namespace {

using State = ConnectionState;

class ConnectionBooksTest : public ::testing::Test {
 protected:
  // A connection that never connects: no TLS context needed.
  PooledConnection& open() {
    return books.open(std::make_shared<PooledConnection>(books.next_id(), io.get_executor(), nullptr,
                                                         Clock::time_point{}, nullptr));
  }

  // Every live connection is where the list says it is.
  void expect_positions_consistent() {
    for (const auto& connection : books.live()) {
      EXPECT_NE(connection->state(), State::closing);
      EXPECT_NE(connection->state(), State::closed);
    }
    std::size_t idle = 0;
    std::size_t leased = 0;
    std::size_t connecting = 0;
    for (const auto& connection : books.live()) {
      idle += connection->state() == State::idle;
      leased += connection->state() == State::leased;
      connecting += connection->state() == State::connecting;
    }
    EXPECT_EQ(idle, books.idle().size());
    EXPECT_EQ(leased, books.leased());
    EXPECT_EQ(connecting, books.connecting());
  }

  boost::asio::io_context io;
  ConnectionBooks books{42};
};

TEST_F(ConnectionBooksTest, ANewConnectionIsConnectingWithTheNextId) {
  PooledConnection& first = open();
  PooledConnection& second = open();
  EXPECT_EQ(first.id(), 1u);
  EXPECT_EQ(second.id(), 2u);
  EXPECT_EQ(first.state(), State::connecting);
  EXPECT_EQ(books.connecting(), 2u);
  EXPECT_EQ(books.total(), 2u);
  EXPECT_EQ(books.lifetime_seed(), 42u);
  expect_positions_consistent();
}

TEST_F(ConnectionBooksTest, TheIdleStackHandsOutTheLastReturnedFirst) {
  PooledConnection& a = open();
  PooledConnection& b = open();
  PooledConnection& c = open();
  for (PooledConnection* connection : {&a, &b, &c}) books.move(*connection, State::idle);
  EXPECT_EQ(books.idle().back(), &c);
  books.move(b, State::leased);  // from the middle of the stack
  EXPECT_EQ((std::vector<PooledConnection*>{&a, &c}), books.idle());
  books.move(b, State::idle);
  EXPECT_EQ(books.idle().back(), &b) << "the one just returned is the warmest";
  EXPECT_EQ(books.leased(), 0u);
  expect_positions_consistent();
}

TEST_F(ConnectionBooksTest, EveryStateCountsAgainstTheTotalUntilClosed) {
  PooledConnection& connection = open();
  for (State state : {State::idle, State::leased, State::idle, State::leased}) {
    books.move(connection, state);
    EXPECT_EQ(books.total(), 1u);
  }
  auto owned = books.take_out(connection);
  books.move(connection, State::closing);
  EXPECT_TRUE(books.live().empty());
  EXPECT_EQ(books.total(), 1u) << "close_notify still on its way: its socket counts";
  EXPECT_FALSE(books.settled_but_leases());
  books.move(connection, State::closed);
  EXPECT_EQ(books.total(), 0u);
  EXPECT_EQ(books.leased(), 0u);
  EXPECT_TRUE(books.settled_but_leases());
}

TEST_F(ConnectionBooksTest, TakingOutKeepsTheOthersFindable) {
  std::vector<PooledConnection*> opened;
  for (int i = 0; i < 6; ++i) opened.push_back(&open());
  for (PooledConnection* connection : opened) books.move(*connection, State::idle);
  // Out of the middle, the front and the back: the list moves its last one into the gap.
  for (std::size_t index : {2u, 0u, 3u}) {
    auto owned = books.take_out(*opened[index]);
    books.move(*opened[index], State::closed);
    EXPECT_EQ(owned.get(), opened[index]);
    expect_positions_consistent();
  }
  ASSERT_EQ(books.live().size(), 3u);
  // Each remaining one is taken out by its own position: the one in the list is itself.
  for (std::size_t index : {5u, 1u, 4u}) {
    auto owned = books.take_out(*opened[index]);
    EXPECT_EQ(owned.get(), opened[index]);
    books.move(*opened[index], State::closed);
  }
  EXPECT_TRUE(books.live().empty());
  EXPECT_TRUE(books.idle().empty());
}

}  // namespace
}  // namespace securechannel::detail
