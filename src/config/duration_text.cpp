#include "config/duration_text.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace securechannel::detail {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t milliseconds;
};

// Longest names first, so "ms" is not read as "m" followed by a stray "s".
constexpr std::array<Unit, 5> units{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& problem) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (text.empty()) {
    problem = "is empty (write a duration such as \"5s\")";
    return std::nullopt;
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      if (number > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
        problem = quoted + " is too long a duration";
        return std::nullopt;
      }
      number = number * 10 + (text[digits] - '0');
      ++digits;
    }
    if (digits == 0) {
      problem = quoted + " is not a duration: expected whole numbers with units (ms, s, m, h, d), as in \"1m30s\"";
      return std::nullopt;
    }
    text.remove_prefix(digits);
    const Unit* unit = nullptr;
    for (const Unit& candidate : units) {
      if (text.starts_with(candidate.name)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) {
      problem = quoted + " needs a unit after " + std::to_string(number) + " (ms, s, m, h or d)";
      return std::nullopt;
    }
    text.remove_prefix(unit->name.size());
    if (number > (std::numeric_limits<std::int64_t>::max() - total) / unit->milliseconds) {
      problem = quoted + " is too long a duration";
      return std::nullopt;
    }
    total += number * unit->milliseconds;
  }
  return std::chrono::milliseconds(total);
}

}  // namespace securechannel::detail
