// Durations as people write them in config files: "250ms", "5s", "2m", "1h30m", "14d" (Go's
// time.ParseDuration units, plus days for certificate lifetimes). Whole numbers only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace securechannel::detail {

// nullopt with `problem` set when `text` is not a sequence of <digits><unit>.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& problem);

}  // namespace securechannel::detail
