#include "http/http1_request_head.hpp"

namespace securechannel::detail {

void append_request_head(const HttpRequest& request, std::string& out, std::size_t room_after) {
  const auto method = request.method_string();
  const auto target = request.target();
  std::size_t size = method.size() + target.size() + 14;  // two spaces, "HTTP/1.1\r\n", "\r\n"
  for (const auto& field : request) size += field.name_string().size() + field.value().size() + 4;
  out.reserve(out.size() + size + room_after);

  out.append(method.data(), method.size()).append(1, ' ').append(target.data(), target.size());
  const unsigned version = request.version();
  out.append(" HTTP/").append(1, char('0' + version / 10)).append(1, '.').append(1, char('0' + version % 10));
  out.append("\r\n");
  for (const auto& field : request) {
    const auto name = field.name_string();
    const auto value = field.value();
    out.append(name.data(), name.size()).append(": ").append(value.data(), value.size()).append("\r\n");
  }
  out.append("\r\n");
}

}  // namespace securechannel::detail
