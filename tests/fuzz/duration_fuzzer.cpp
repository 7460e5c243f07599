// Duration text ("1m30s"): never crashes or overflows; an accepted duration is not negative and
// a refused one says why.
#include "config/duration_text.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string problem;
  const auto duration = securechannel::detail::parse_duration(input, problem);
  if (!duration && problem.empty()) std::abort();
  if (duration && duration->count() < 0) std::abort();
  return 0;
}
