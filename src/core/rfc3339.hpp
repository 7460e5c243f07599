// Times shown to people and to the monitoring API's clients: RFC 3339 in UTC, whole seconds.
#pragma once

#include <chrono>
#include <string>

namespace securechannel::detail {

// "2025-08-25T11:00:00Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point when);

// `when` in UTC, written by strftime with `format` (at most 63 characters of output), for the
// other formats tools want ("%y%m%d%H%M%SZ" in `openssl ca`'s index file).
std::string utc_text(std::chrono::system_clock::time_point when, const char* format);

}  // namespace securechannel::detail
