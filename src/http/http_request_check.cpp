#include "securechannel/http_request_check.hpp"

#include <fmt/format.h>

#include <array>

namespace securechannel {
namespace {

constexpr std::array<bool, 256> token_characters = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

std::string describe_byte(unsigned char byte) {
  switch (byte) {
    case '\r': return "a CR (0x0d)";
    case '\n': return "a LF (0x0a)";
    case '\0': return "a NUL (0x00)";
    case ' ': return "a space (0x20)";
    default: return fmt::format("the byte 0x{:02x}", byte);
  }
}

// A name as it can be shown in a message: control characters escaped, at most 64 bytes.
std::string printable(std::string_view text) {
  std::string shown;
  for (unsigned char c : text.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f) {
      shown += fmt::format("\\x{:02x}", c);
    } else {
      shown.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > 64) shown += "...";
  return shown;
}

// Where `text` first holds a byte `refused` says no to, as "holds ... at byte N".
template <class Refused>
std::optional<std::string> first_refused_byte(std::string_view text, Refused refused) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (refused(byte)) return fmt::format("holds {} at byte {}", describe_byte(byte), i);
  }
  return std::nullopt;
}

std::optional<std::string> token_problem(std::string_view text) {
  if (text.empty()) return "is empty";
  return first_refused_byte(text, [](unsigned char byte) { return !token_characters[byte]; });
}

}  // namespace

bool is_http_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (unsigned char byte : text) {
    if (!token_characters[byte]) return false;
  }
  return true;
}

std::optional<std::string> find_request_problem(const HttpRequest& request) {
  if (auto problem = token_problem(request.method_string())) return "method: " + *problem;
  const std::string_view target = request.target();
  if (target.empty()) return std::string("target: is empty");
  // RFC 9112 3.2 and RFC 3986: visible ASCII only; anything else is percent-encoded first
  // (servers refuse raw bytes above 0x7e, or read them differently from each other).
  if (auto problem = first_refused_byte(target, [](unsigned char byte) { return byte <= 0x20 || byte >= 0x7f; })) {
    return "target: " + *problem;
  }
  for (const auto& field : request.base()) {
    const std::string_view name = field.name_string();
    if (auto problem = token_problem(name)) return "header name '" + printable(name) + "': " + *problem;
    // RFC 9110 5.5: CR, LF and NUL must never pass; other controls but HTAB are not field content.
    if (auto problem = first_refused_byte(field.value(), [](unsigned char byte) {
          return (byte < 0x20 && byte != '\t') || byte == 0x7f;
        })) {
      return "header '" + printable(name) + "': value " + *problem;
    }
  }
  return std::nullopt;
}

}  // namespace securechannel
