// Between Beast messages and HTTP/2 header lists (RFC 9113 8.2 and 8.3): the request's
// pseudo-headers and lowercase fields for nghttp2_submit_request, and the response's header
// blocks back into a Beast response. Used by Http2Session; knows nothing about I/O.
//
//   Http2RequestHeaders headers(request);      // request: HttpRequest
//   nghttp2_submit_request(session, nullptr, headers.data(), headers.size(), ...);
#pragma once

#include "securechannel/http_message.hpp"

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace securechannel::detail {

// The header list of one request. nghttp2 copies the list on submit, so this only has to live
// until nghttp2_submit_request returns.
class Http2RequestHeaders {
 public:
  // `streamed_body`: the body comes from a body source, so its length is what the request's
  // Content-Length says, or unknown; never the (ignored) string body's.
  Http2RequestHeaders(const HttpRequest& request, std::string_view scheme, bool streamed_body = false);

  const nghttp2_nv* data() const noexcept { return list_.data(); }
  std::size_t size() const noexcept { return list_.size(); }

 private:
  struct Field {
    std::string name;
    std::string value;
    bool sensitive;  // never put into the HPACK dynamic table (RFC 7541 7.1.3)
  };
  void add(std::string name, std::string value, bool sensitive = false);

  // The list points into fields_, so it is built once every field is in (no reallocation after).
  std::vector<Field> fields_;
  std::vector<nghttp2_nv> list_;
};

// True for the fields RFC 9113 8.2.2 forbids in HTTP/2 (connection-specific), which an HTTP/1.1
// request built for either protocol may carry. `lowercase_name` must be lowercase.
bool is_connection_specific_field(std::string_view lowercase_name, std::string_view value) noexcept;

// Collects one response: interim (1xx) header blocks are dropped, the final block sets status and
// fields, a later block (trailers) is appended as fields. nghttp2 has already checked the header
// block (pseudo-header rules, names), so only :status is interpreted here.
class Http2ResponseBuilder {
 public:
  // A new header block starts (nghttp2's on_begin_headers).
  void begin_block() noexcept;
  // One field of the current block. False when :status is not a three-digit number.
  bool add_field(std::string_view name, std::string_view value);
  // What the fields so far cost, all blocks together: name + value + 32 each (RFC 9113 6.5.2).
  std::size_t header_list_bytes() const noexcept { return header_list_bytes_; }
  // The current block is complete (its HEADERS frame was received).
  void end_block() noexcept;

  bool has_final_headers() const noexcept { return final_headers_; }
  // Reserves the announced Content-Length for the body, at most `limit` bytes.
  void reserve_body(std::size_t limit);
  HttpResponse& response() noexcept { return response_; }

 private:
  HttpResponse response_;
  int block_status_ = 0;          // :status of the block being received, 0 in trailers
  std::size_t header_list_bytes_ = 0;
  bool final_headers_ = false;    // a block with :status >= 200 was completed
};

}  // namespace securechannel::detail
