// The bytes of an HTTP/1.1 request up to its body: start line, header fields, blank line
// (RFC 9112 3 and 5). Written by hand rather than with Beast's serializer, whose buffer-sequence
// machinery costs more per request than the TLS record that carries it.
//
//   std::string bytes;
//   append_request_head(request, bytes);  // "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
#pragma once

#include "securechannel/http_message.hpp"

#include <string>

namespace securechannel::detail {

// Appends to `out` what Beast's serializer would send before the body: the fields as they are,
// in their order. Framing fields are the caller's (HttpClient calls prepare_payload first).
// `room_after` more bytes are reserved with the head's, for a body the caller appends: one
// allocation in all.
void append_request_head(const HttpRequest& request, std::string& out, std::size_t room_after = 0);

}  // namespace securechannel::detail
