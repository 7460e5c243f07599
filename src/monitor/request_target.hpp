// The parts of an HTTP request target the monitoring endpoints use: the path, and query
// parameters with percent-decoding ("endpoint=relay.example.com%3A443").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace securechannel::monitor {

struct RequestTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;

  // The first value of `name`, if present.
  std::optional<std::string> parameter(std::string_view name) const;
};

// nullopt when the target is not origin-form ("/path?query") or has a malformed %-escape.
std::optional<RequestTarget> parse_request_target(std::string_view target);

}  // namespace securechannel::monitor
