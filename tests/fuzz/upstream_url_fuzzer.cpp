// parse_upstream_url: never crashes; what it accepts is safe to put on a request line, and taking
// apart the URL it describes gives the same parts.
#include "http/upstream_url.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using securechannel::detail::parse_upstream_url;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string problem;
  const auto url = parse_upstream_url(input, problem);
  if (!url) {
    if (problem.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  if (url->host.empty() || url->target.empty() || url->target.front() != '/') std::abort();
  for (unsigned char byte : url->target) {
    if (byte <= 0x20 || byte == 0x7f || byte == '#') std::abort();
  }
  const int port = std::atoi(url->port.c_str());
  if (port < 1 || port > 65535) std::abort();
  std::string again_problem;
  const auto again =
      parse_upstream_url(std::string(url->tls ? "https://" : "http://") + url->authority + url->target, again_problem);
  if (!again || again->tls != url->tls || again->host != url->host || again->port != url->port ||
      again->target != url->target) {
    std::abort();
  }
  return 0;
}
