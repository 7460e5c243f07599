#include "core/waiter_queue.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;
using Line = WaiterQueue<std::string>;
const Line::TimePoint t0 = std::chrono::steady_clock::now();

std::vector<std::string> expire(Line& line, Line::TimePoint now) {
  std::vector<std::string> expired;
  while (line.has_expired(now)) expired.push_back(line.pop_expired(now).handler);
  return expired;
}

TEST(WaiterQueueTest, ServesOldestFirst) {
  Line line;
  line.push(1, "a", t0, t0 + 5s);
  line.push(2, "b", t0, t0 + 5s);
  line.push(0, "c", t0, t0 + 5s);
  EXPECT_EQ(line.size(), 3u);
  EXPECT_EQ(line.pop_front().handler, "a");
  EXPECT_EQ(line.pop_front().handler, "b");
  EXPECT_EQ(line.pop_front().handler, "c");
  EXPECT_TRUE(line.empty());
  EXPECT_FALSE(line.earliest_deadline());
}

TEST(WaiterQueueTest, RemovesByIdOnlyWhileInLine) {
  Line line;
  line.push(7, "a", t0, t0 + 5s);
  line.push(8, "b", t0, t0 + 5s);
  const auto removed = line.remove(8);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->handler, "b");
  EXPECT_FALSE(line.remove(8)) << "already out of line";
  EXPECT_FALSE(line.remove(0)) << "id 0 is never removable";
  EXPECT_EQ(line.pop_front().handler, "a");
  EXPECT_FALSE(line.remove(7)) << "served already";
}

TEST(WaiterQueueTest, ExpiresInDeadlineOrderWhenDeadlinesFollowArrival) {
  Line line;
  line.push(1, "a", t0, t0 + 1s);
  line.push(2, "b", t0 + 1ms, t0 + 2s);
  line.push(3, "c", t0 + 2ms, t0 + 3s);
  EXPECT_EQ(line.earliest_deadline(), t0 + 1s);
  EXPECT_TRUE(expire(line, t0 + 500ms).empty());
  EXPECT_EQ(expire(line, t0 + 2s), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(line.earliest_deadline(), t0 + 3s);
}

// A timeout lowered while callers wait: the newer waiter's deadline comes first, and it must not
// wait behind the older one.
TEST(WaiterQueueTest, ExpiresAWaiterWithAnEarlierDeadlineBehindALaterOne) {
  Line line;
  line.push(1, "long", t0, t0 + 10s);
  line.push(2, "short", t0 + 1ms, t0 + 1s);
  line.push(3, "medium", t0 + 2ms, t0 + 5s);
  EXPECT_EQ(line.earliest_deadline(), t0 + 1s);
  EXPECT_EQ(expire(line, t0 + 1s), (std::vector<std::string>{"short"}));
  EXPECT_EQ(line.earliest_deadline(), t0 + 5s);
  EXPECT_EQ(expire(line, t0 + 6s), (std::vector<std::string>{"medium"}));
  EXPECT_EQ(line.pop_front().handler, "long") << "FIFO order is kept for serving";
  // An empty line is in order again: front-only expiry from here.
  line.push(4, "next", t0, t0 + 2s);
  EXPECT_EQ(line.earliest_deadline(), t0 + 2s);
}

TEST(WaiterQueueTest, TakesAllOldestFirst) {
  Line line;
  line.push(1, "a", t0, t0 + 9s);
  line.push(2, "b", t0, t0 + 1s);
  std::vector<std::string> taken;
  line.take_all([&](Line::Waiter&& waiter) { taken.push_back(waiter.handler); });
  EXPECT_EQ(taken, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(line.empty());
  EXPECT_FALSE(line.has_expired(t0 + 1h));
}

TEST(WaiterQueueTest, TakesTheOldestThatMatches) {
  Line line;
  line.push(1, "x1", t0, t0 + 5s);
  line.push(2, "y1", t0, t0 + 5s);
  line.push(3, "x2", t0, t0 + 5s);
  auto is_x = [](const Line::Waiter& waiter) { return waiter.handler[0] == 'x'; };
  EXPECT_EQ(line.take_first_if(is_x)->handler, "x1");
  EXPECT_EQ(line.take_first_if(is_x)->handler, "x2");
  EXPECT_FALSE(line.take_first_if(is_x));
  EXPECT_EQ(line.size(), 1u);
}

TEST(WaiterQueueTest, OnePutAtTheHeadIsServedFirstAndStillExpiresOnTime) {
  Line line;
  line.push(1, "in line", t0, t0 + 2s);
  // Waited elsewhere with a later deadline: the line is no longer in deadline order.
  line.push_front(2, "moved over", t0, t0 + 9s);
  EXPECT_EQ(line.earliest_deadline(), t0 + 2s);
  EXPECT_EQ(expire(line, t0 + 3s), (std::vector<std::string>{"in line"}));
  EXPECT_EQ(line.pop_front().handler, "moved over");
}

}  // namespace
}  // namespace securechannel::detail
