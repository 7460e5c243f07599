// go_duration_text against what Go's time.Duration.String() prints (values from Go's own
// time_test.go durationTests, and the seed's "2h30m15s").
#include "monitor/go_duration.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace securechannel::monitor {
namespace {

using namespace std::chrono_literals;

TEST(GoDurationTextTest, PrintsAsGoDoes) {
  const std::pair<std::chrono::nanoseconds, std::string> cases[] = {
      {0ns, "0s"},
      {1ns, "1ns"},
      {1100ns, "1.1\u00b5s"},
      {2200us, "2.2ms"},
      {3300ms, "3.3s"},
      {4min + 5s, "4m5s"},
      {4min + 5001ms, "4m5.001s"},
      {5h + 6min + 7001ms, "5h6m7.001s"},
      {8min + 1ns, "8m0.000000001s"},
      {2h + 30min + 15s, "2h30m15s"},
      {1h, "1h0m0s"},
      {60s, "1m0s"},
      {999'999'999ns, "999.999999ms"},
      {-1ns, "-1ns"},
      {-(4min + 5s), "-4m5s"},
      {std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max()), "2562047h47m16.854775807s"},
      {std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::min()), "-2562047h47m16.854775808s"},
  };
  for (const auto& [duration, expected] : cases) {
    EXPECT_EQ(go_duration_text(duration), expected) << duration.count() << " ns";
  }
}

}  // namespace
}  // namespace securechannel::monitor
