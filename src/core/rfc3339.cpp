#include "core/rfc3339.hpp"

#include <ctime>

namespace securechannel::detail {

std::string utc_text(std::chrono::system_clock::time_point when, const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  const std::size_t length = std::strftime(text, sizeof text, format, &utc);
  return std::string(text, length);
}

std::string rfc3339_utc(std::chrono::system_clock::time_point when) {
  return utc_text(when, "%Y-%m-%dT%H:%M:%SZ");
}

}  // namespace securechannel::detail
