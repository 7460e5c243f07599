#include "config/duration_text.hpp"

#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

std::chrono::milliseconds parsed(std::string_view text) {
  std::string problem;
  const auto duration = parse_duration(text, problem);
  EXPECT_TRUE(duration) << text << ": " << problem;
  return duration.value_or(-1ms);
}

std::string problem_with(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(parse_duration(text, problem)) << text;
  return problem;
}

TEST(DurationTextTest, ReadsEveryUnitAndSequencesOfThem) {
  EXPECT_EQ(parsed("250ms"), 250ms);
  EXPECT_EQ(parsed("5s"), 5s);
  EXPECT_EQ(parsed("2m"), 2min);
  EXPECT_EQ(parsed("3h"), 3h);
  EXPECT_EQ(parsed("14d"), 14 * 24h);
  EXPECT_EQ(parsed("1m30s"), 90s);
  EXPECT_EQ(parsed("1s500ms"), 1500ms) << "\"ms\" is not read as minutes then a stray s";
  EXPECT_EQ(parsed("0s"), 0ms);
}

TEST(DurationTextTest, RefusesWhatIsNotADurationSayingWhy) {
  EXPECT_EQ(problem_with(""), "is empty (write a duration such as \"5s\")");
  EXPECT_EQ(problem_with("5"), "\"5\" needs a unit after 5 (ms, s, m, h or d)");
  EXPECT_EQ(problem_with("5 s"), "\"5 s\" needs a unit after 5 (ms, s, m, h or d)");
  EXPECT_EQ(problem_with("1.5s"), "\"1.5s\" needs a unit after 1 (ms, s, m, h or d)");
  EXPECT_NE(problem_with("s").find("expected whole numbers with units"), std::string::npos);
  EXPECT_NE(problem_with("-5s").find("expected whole numbers with units"), std::string::npos);
  EXPECT_NE(problem_with("99999999999999999999s").find("too long"), std::string::npos);
  EXPECT_NE(problem_with("9999999999999999d").find("too long"), std::string::npos);
}

}  // namespace
}  // namespace securechannel::detail
