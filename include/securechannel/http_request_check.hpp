// Whether a request is safe to write onto the wire. A CR or LF in a header value, a target or a
// method would end the line early and let the rest be read as another header or another
// request (request smuggling); a NUL is cut by some servers and not by others. HttpClient
// refuses such a request with errc::invalid_request before it reaches a connection, on either
// protocol (nghttp2 would send them as they are); this function says which part is wrong.
//
//   securechannel::HttpRequest request{boost::beast::http::verb::get, "/a b", 11};
//   if (auto problem = securechannel::find_request_problem(request)) {
//     std::cerr << *problem << "\n";  // "target: holds a space (0x20) at byte 2"
//   }
#pragma once

#include "securechannel/http_message.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace securechannel {

// The first part of `request` that cannot be written as it is, named with its place and the
// offending byte ("header 'X-Id': value holds a LF (0x0a) at byte 3"); nothing when the method
// and every header name are RFC 9110 tokens, the target is visible ASCII (percent-encode the
// rest), and no header value holds a control character other than a tab.
std::optional<std::string> find_request_problem(const HttpRequest& request);

// RFC 9110 5.6.2: one or more of ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~
bool is_http_token(std::string_view text) noexcept;

}  // namespace securechannel
