// Durations printed as Go's time.Duration.String() prints them, for JSON read by Go clients
// (the enhanced status's `uptime`) and for people (the ages in `scpool status`):
//
//   go_duration_text(9015s)    == "2h30m15s"
//   go_duration_text(1500us)   == "1.5ms"
//   go_duration_text(0s)       == "0s"
//
// Hours are the largest unit (no days), as in Go; below one second the unit is ns, µs or ms.
#pragma once

#include <chrono>
#include <string>

namespace securechannel::monitor {

std::string go_duration_text(std::chrono::nanoseconds duration);

}  // namespace securechannel::monitor
