#include "http/http1_message_head.hpp"

namespace securechannel::detail {

namespace {

namespace http = boost::beast::http;

std::size_t fields_size(const http::fields& fields) {
  std::size_t size = 2;  // the blank line
  for (const auto& field : fields) size += field.name_string().size() + field.value().size() + 4;
  return size;
}

void append_version(unsigned version, std::string& out) {
  out.append("HTTP/").append(1, char('0' + version / 10)).append(1, '.').append(1, char('0' + version % 10));
}

void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& field : fields) {
    const auto name = field.name_string();
    const auto value = field.value();
    out.append(name.data(), name.size()).append(": ").append(value.data(), value.size()).append("\r\n");
  }
  out.append("\r\n");
}

}  // namespace

void append_request_head(const HttpRequest& request, std::string& out, std::size_t room_after) {
  const auto method = request.method_string();
  const auto target = request.target();
  // Two spaces, "HTTP/1.1", CRLF.
  out.reserve(out.size() + method.size() + target.size() + 12 + fields_size(request.base()) + room_after);
  out.append(method.data(), method.size()).append(1, ' ').append(target.data(), target.size()).append(1, ' ');
  append_version(request.version(), out);
  out.append("\r\n");
  append_fields(request.base(), out);
}

void append_response_head(const HttpResponse& response, std::string& out, std::size_t room_after) {
  const unsigned status = response.result_int();
  // Beast's reason() gives the phrase set on the response, else the code's registered one, else
  // the text "<unknown-status>", which is not a reason phrase: an empty one is sent instead.
  std::string_view reason = response.reason();
  if (reason == "<unknown-status>") reason = {};
  // "HTTP/1.1", a space, three digits, a space, CRLF.
  out.reserve(out.size() + 15 + reason.size() + fields_size(response.base()) + room_after);
  append_version(response.version(), out);
  const char digits[] = {' ', char('0' + status / 100 % 10), char('0' + status / 10 % 10), char('0' + status % 10), ' '};
  out.append(digits, sizeof digits).append(reason.data(), reason.size()).append("\r\n");
  append_fields(response.base(), out);
}

}  // namespace securechannel::detail
