// The bytes of an HTTP/1.1 message up to its body: start line, header fields, blank line
// (RFC 9112 3, 4 and 5). Written by hand rather than with Beast's serializer, whose
// buffer-sequence machinery costs more per message than the system call that sends it.
//
//   std::string bytes;
//   append_request_head(request, bytes);    // "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
//   append_response_head(response, bytes);  // "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"
#pragma once

#include "securechannel/http_message.hpp"

#include <string>

namespace securechannel::detail {

// Append to `out` what Beast's serializer would send before the body: the fields as they are,
// in their order. Framing fields are the caller's (HttpClient calls prepare_payload first; the
// daemon sets Content-Length). `room_after` more bytes are reserved with the head's, for a body
// the caller appends: one allocation in all.
void append_request_head(const HttpRequest& request, std::string& out, std::size_t room_after = 0);
// The status line carries the response's own reason phrase, or the status code's registered one
// as Beast writes it; a code without one gets an empty reason (RFC 9112 4 allows it), where Beast
// would write "<unknown-status>".
void append_response_head(const HttpResponse& response, std::string& out, std::size_t room_after = 0);

}  // namespace securechannel::detail
