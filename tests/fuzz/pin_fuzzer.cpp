// SPKI pins ("sha256//<base64>"): never crashes; an accepted pin formats back to a pin that
// parses to the same digest.
#include "tls/public_key_pins.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace securechannel::detail;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto digest = parse_pin(input);
  if (!digest) return 0;
  const auto again = parse_pin(format_pin(*digest));
  if (!again || *again != *digest) std::abort();
  return 0;
}
