#include "monitor/json_error.hpp"

#include <nlohmann/json.hpp>

namespace securechannel::monitor {

MonitoringResponse json_error(unsigned status, std::string_view error, std::string_view message) {
  MonitoringResponse response;
  response.status = status;
  response.content_type = "application/json";
  // Through the JSON library, not string concatenation: messages may quote parser errors.
  response.body = nlohmann::json{{"error", error}, {"message", message}}.dump();
  return response;
}

}  // namespace securechannel::monitor
