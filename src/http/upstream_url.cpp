#include "http/upstream_url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace securechannel::detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 3986 reg-name as DNS uses it (letters, digits, '-', '.', '_'), or an IPv4 literal.
bool is_host_name(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_'; });
}

// The inside of [...]: hex digits, ':' and '.' (an embedded IPv4), and a %zone after them.
bool is_ipv6_literal(std::string_view host) {
  const std::size_t zone = host.find('%');
  const std::string_view address = host.substr(0, zone);
  return address.find(':') != std::string_view::npos && std::all_of(address.begin(), address.end(), [](char c) {
           return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
         }) &&
         (zone == std::string_view::npos ||
          (zone + 1 < host.size() && is_host_name(host.substr(zone + 1))));
}

}  // namespace

std::optional<UpstreamUrl> parse_upstream_url(std::string_view url, std::string& problem) {
  for (std::size_t i = 0; i < url.size(); ++i) {
    const auto byte = static_cast<unsigned char>(url[i]);
    if (byte <= 0x20 || byte == 0x7f) {
      problem = fmt::format("holds a space or control character (0x{:02x}) at byte {}", byte, i);
      return std::nullopt;
    }
  }
  const auto starts_with_scheme = [url](std::string_view scheme) {
    return url.size() >= scheme.size() &&
           std::equal(scheme.begin(), scheme.end(), url.begin(),
                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  };
  UpstreamUrl parsed;
  std::string_view rest;
  if (starts_with_scheme("https://")) {
    rest = url.substr(std::string_view("https://").size());
  } else if (starts_with_scheme("http://")) {
    parsed.tls = false;
    rest = url.substr(std::string_view("http://").size());
  } else {
    problem = url.find("://") == std::string_view::npos ? "missing scheme (use https:// or http://)"
                                                        : "only https:// and http:// URLs are supported";
    return std::nullopt;
  }
  const std::string_view default_port = parsed.tls ? "443" : "80";
  rest = rest.substr(0, rest.find('#'));  // the fragment stays with the client
  const std::size_t path_start = rest.find_first_of("/?");
  parsed.authority = std::string(rest.substr(0, path_start));
  parsed.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (parsed.target.front() == '?') parsed.target.insert(0, "/");
  if (parsed.authority.empty()) {
    problem = "missing host";
    return std::nullopt;
  }
  if (parsed.authority.find('@') != std::string::npos) {
    problem = "user information (user@host) is not supported";
    return std::nullopt;
  }
  const std::string_view host_port = parsed.authority;
  std::string_view port;
  if (host_port.front() == '[') {
    const std::size_t close = host_port.find(']');
    if (close == std::string_view::npos) {
      problem = "unterminated IPv6 literal";
      return std::nullopt;
    }
    parsed.host = std::string(host_port.substr(1, close - 1));
    if (!is_ipv6_literal(parsed.host)) {
      problem = "'" + parsed.host + "' is not an IPv6 address";
      return std::nullopt;
    }
    const std::string_view after = host_port.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      problem = "unexpected characters after the IPv6 literal";
      return std::nullopt;
    }
    port = after.empty() ? default_port : after.substr(1);
  } else {
    const std::size_t colon = host_port.rfind(':');
    parsed.host = std::string(host_port.substr(0, colon));
    port = colon == std::string_view::npos ? default_port : host_port.substr(colon + 1);
    if (parsed.host.empty() || !is_host_name(parsed.host)) {
      problem = parsed.host.empty() ? "missing host" : "'" + parsed.host + "' is not a host name";
      return std::nullopt;
    }
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit) || std::stoi(std::string(port)) < 1 ||
      std::stoi(std::string(port)) > 65535) {
    problem = "port '" + std::string(port) + "' is not a number from 1 to 65535";
    return std::nullopt;
  }
  parsed.port = std::string(port);
  return parsed;
}

}  // namespace securechannel::detail
