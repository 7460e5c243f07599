// The monitoring server's request target parser: never crashes; an accepted target has an
// origin-form path, and every parameter it reports is one of the query's.
#include "monitor/request_target.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto target = securechannel::monitor::parse_request_target(input);
  if (!target) return 0;
  if (target->path.empty() || target->path.front() != '/') std::abort();
  for (const auto& [name, value] : target->query) {
    const auto first = target->parameter(name);
    if (!first) std::abort();
  }
  return 0;
}
