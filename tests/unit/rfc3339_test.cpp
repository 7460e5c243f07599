#include "core/rfc3339.hpp"

#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

using namespace std::chrono;

TEST(Rfc3339Test, UtcWithWholeSeconds) {
  EXPECT_EQ(rfc3339_utc(system_clock::time_point{}), "1970-01-01T00:00:00Z");
  // 2025-08-25T11:00:00Z, and the milliseconds after it are dropped, not rounded.
  const system_clock::time_point when{seconds{1756119600}};
  EXPECT_EQ(rfc3339_utc(when), "2025-08-25T11:00:00Z");
  EXPECT_EQ(rfc3339_utc(when + milliseconds{999}), "2025-08-25T11:00:00Z");
  EXPECT_EQ(rfc3339_utc(system_clock::time_point{seconds{951782400}}), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace securechannel::detail
