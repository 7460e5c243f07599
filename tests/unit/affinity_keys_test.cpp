// AffinityKeys on its own: a key stays with its connection, a closed connection moves only its
// own keys (and only when they are next used), the least recently used key is forgotten beyond
// the bound, and a new key goes to the idle connection holding the fewest.
#include "pool/affinity_keys.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace securechannel::detail {
namespace {

class AffinityKeysTest : public ::testing::Test {
 protected:
  // Connections that never connect: no TLS context needed.
  std::shared_ptr<PooledConnection> connection(std::uint64_t id) {
    return std::make_shared<PooledConnection>(id, io.get_executor(), nullptr, Clock::time_point{}, nullptr);
  }

  boost::asio::io_context io;
};

TEST_F(AffinityKeysTest, AKeyKeepsItsConnectionUntilItMoves) {
  AffinityKeys keys(100);
  const auto a = connection(1);
  const auto b = connection(2);
  EXPECT_EQ(keys.find("k"), nullptr);
  EXPECT_EQ(keys.bind("k", *a), AffinityOutcome::new_key);
  EXPECT_EQ(keys.find("k"), a.get());
  EXPECT_EQ(keys.bind("k", *a), AffinityOutcome::kept);
  EXPECT_EQ(keys.keys_of(*a), 1u);
  EXPECT_EQ(keys.bind("k", *b), AffinityOutcome::moved);
  EXPECT_EQ(keys.find("k"), b.get());
  EXPECT_EQ(keys.keys_of(*a), 0u);
  EXPECT_EQ(keys.keys_of(*b), 1u);
  EXPECT_EQ(keys.moves(), 1u);
  EXPECT_EQ(keys.size(), 1u);
}

TEST_F(AffinityKeysTest, AClosedConnectionMovesOnlyItsOwnKeys) {
  AffinityKeys keys(100);
  const auto a = connection(1);
  const auto b = connection(2);
  const auto c = connection(3);
  for (int i = 0; i < 10; ++i) keys.bind("a" + std::to_string(i), *a);
  for (int i = 0; i < 10; ++i) keys.bind("b" + std::to_string(i), *b);
  keys.forget_connection(*a);
  EXPECT_EQ(keys.keys_of(*a), 0u);
  EXPECT_EQ(keys.size(), 20u) << "remembered until used or forgotten";
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(keys.find("a" + std::to_string(i)), nullptr) << "its connection is gone";
    EXPECT_EQ(keys.find("b" + std::to_string(i)), b.get());
  }
  EXPECT_EQ(keys.bind("a0", *c), AffinityOutcome::moved) << "the caller is told its state is gone";
  EXPECT_EQ(keys.bind("b0", *b), AffinityOutcome::kept);
  EXPECT_EQ(keys.keys_of(*b), 10u);
  EXPECT_EQ(keys.keys_of(*c), 1u);
}

TEST_F(AffinityKeysTest, TheLeastRecentlyUsedKeyIsForgottenBeyondTheBound) {
  AffinityKeys keys(3);
  const auto a = connection(1);
  keys.bind("one", *a);
  keys.bind("two", *a);
  keys.bind("three", *a);
  EXPECT_EQ(keys.find("one"), a.get());  // used: "two" is now the least recent
  keys.bind("four", *a);
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys.evictions(), 1u);
  EXPECT_EQ(keys.find("two"), nullptr);
  EXPECT_EQ(keys.bind("two", *a), AffinityOutcome::new_key) << "forgotten, so new again";
  EXPECT_EQ(keys.keys_of(*a), 3u) << "the count follows what is remembered";
  EXPECT_EQ(keys.find("three"), nullptr) << "forgotten to make room for two";
}

TEST_F(AffinityKeysTest, ANewKeyGoesToTheIdleConnectionWithFewestKeysTheWarmestAmongEquals) {
  AffinityKeys keys(100);
  const auto cold = connection(1);
  const auto middle = connection(2);
  const auto warm = connection(3);
  std::vector<PooledConnection*> idle{cold.get(), middle.get(), warm.get()};  // oldest first
  EXPECT_EQ(keys.fewest_keys(idle), warm.get()) << "none holds a key: the warmest";
  keys.bind("w", *warm);
  EXPECT_EQ(keys.fewest_keys(idle), middle.get());
  keys.bind("m", *middle);
  keys.bind("c1", *cold);
  keys.bind("c2", *cold);
  EXPECT_EQ(keys.fewest_keys(idle), warm.get());
  EXPECT_EQ(keys.fewest_keys({}), nullptr);
}

}  // namespace
}  // namespace securechannel::detail
