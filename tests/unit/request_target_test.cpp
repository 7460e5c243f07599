#include "monitor/request_target.hpp"

#include <gtest/gtest.h>

namespace securechannel::monitor {
namespace {

TEST(RequestTargetTest, SplitsPathAndDecodesQuery) {
  const auto target = parse_request_target("/api/v1/secure-channel/status?pool=relay&endpoint=a.example%3A443#x");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/api/v1/secure-channel/status");
  EXPECT_EQ(target->parameter("pool"), "relay");
  EXPECT_EQ(target->parameter("endpoint"), "a.example:443");
  EXPECT_FALSE(target->parameter("missing"));
}

TEST(RequestTargetTest, PlusIsSpaceOnlyInTheQuery) {
  const auto target = parse_request_target("/a+b?x=c+d&empty&=v");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/a+b");
  EXPECT_EQ(target->parameter("x"), "c d");
  EXPECT_EQ(target->parameter("empty"), "");
}

TEST(RequestTargetTest, RejectsNonOriginFormAndBadEscapes) {
  EXPECT_FALSE(parse_request_target(""));
  EXPECT_FALSE(parse_request_target("http://host/metrics"));
  EXPECT_FALSE(parse_request_target("*"));
  EXPECT_FALSE(parse_request_target("/metrics%"));
  EXPECT_FALSE(parse_request_target("/metrics%4"));
  EXPECT_FALSE(parse_request_target("/metrics?x=%zz"));
  EXPECT_TRUE(parse_request_target("/metrics%41"));
}

}  // namespace
}  // namespace securechannel::monitor
