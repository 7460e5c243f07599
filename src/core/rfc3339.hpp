// Times shown to people and to the monitoring API's clients: RFC 3339 in UTC, whole seconds.
#pragma once

#include <chrono>
#include <string>

namespace securechannel::detail {

// "2025-08-25T11:00:00Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point when);

}  // namespace securechannel::detail
