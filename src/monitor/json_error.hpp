// The answers the monitoring server gives on its own (401, 408, 431, 503, ...): a JSON body
// {"error": "<snake_case name>", "message": "<for a human>"}, the same shape as the handler's
// errors, so that clients parse one format.
#pragma once

#include "securechannel/monitoring_server.hpp"

#include <string_view>

namespace securechannel::monitor {

MonitoringResponse json_error(unsigned status, std::string_view error, std::string_view message);

}  // namespace securechannel::monitor
