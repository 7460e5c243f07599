#include "monitor/go_duration.hpp"

#include <cstdint>

namespace securechannel::monitor {
namespace {

// The digits of `value % 10^precision` after a decimal point, trailing zeros dropped (no point
// at all when they are all zero), as Go's fmtFrac. Leaves value / 10^precision in `value`.
std::string fraction_text(std::uint64_t& value, int precision) {
  std::string digits;
  bool significant = false;
  for (int i = 0; i < precision; ++i) {
    const auto digit = static_cast<char>('0' + value % 10);
    significant = significant || digit != '0';
    if (significant) digits.insert(digits.begin(), digit);
    value /= 10;
  }
  return digits.empty() ? std::string() : "." + digits;
}

}  // namespace

std::string go_duration_text(std::chrono::nanoseconds duration) {
  const std::int64_t nanoseconds = duration.count();
  if (nanoseconds == 0) return "0s";
  // Through unsigned arithmetic, so that the most negative value has a magnitude too.
  std::uint64_t magnitude = nanoseconds < 0 ? 0 - static_cast<std::uint64_t>(nanoseconds)
                                            : static_cast<std::uint64_t>(nanoseconds);
  std::string text;
  if (magnitude < 1'000'000'000) {
    // Below one second: the largest unit that keeps an integer part, with its fraction.
    const char* unit = "ns";
    int precision = 0;
    if (magnitude >= 1'000'000) {
      unit = "ms";
      precision = 6;
    } else if (magnitude >= 1'000) {
      unit = "\u00b5s";  // Go prints the micro sign, U+00B5
      precision = 3;
    }
    const std::string fraction = fraction_text(magnitude, precision);
    text = std::to_string(magnitude) + fraction + unit;
  } else {
    const std::string fraction = fraction_text(magnitude, 9);  // magnitude is now whole seconds
    text = std::to_string(magnitude % 60) + fraction + "s";
    magnitude /= 60;
    if (magnitude > 0) {
      text = std::to_string(magnitude % 60) + "m" + text;
      magnitude /= 60;
      if (magnitude > 0) text = std::to_string(magnitude) + "h" + text;
    }
  }
  return nanoseconds < 0 ? "-" + text : text;
}

}  // namespace securechannel::monitor
