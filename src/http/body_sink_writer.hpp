// Hands a streamed response body to HttpRequestOptions::body_sink as it arrives, for either
// protocol: decoded first when the request asked for decoding, and counted against
// max_response_body. One per response; the protocol code feeds it the body bytes it receives.
//
//   BodySinkWriter writer(options.body_sink, options.max_response_body,
//                         BodySinkWriter::coding_of(response_header, options.decode_content));
//   if (auto error = writer.write(received)) stop(error);   // response_body_aborted, ...
//   if (auto error = writer.finish()) fail(error);           // after the last byte
#pragma once

#include "http/content_decoding.hpp"
#include "securechannel/http_message.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <optional>
#include <string_view>

namespace securechannel::detail {

class BodySinkWriter {
 public:
  // `sink` must outlive the writer.
  BodySinkWriter(const HttpBodySink& sink, std::size_t max_body, ContentCoding coding);

  // What the sink receives for a response with these header fields: decoded bytes when
  // `decode` and the response names a Content-Encoding, else the bytes as sent.
  static ContentCoding coding_of(const boost::beast::http::response_header<>& header, bool decode);

  // Errors: errc::response_body_aborted (the sink returned false), errc::response_too_large,
  // errc::content_decoding_failed. After an error the writer takes nothing more.
  boost::system::error_code write(std::string_view received);
  // The body ended: errc::content_decoding_failed when an encoded body was truncated. A body
  // with no byte at all is fine whatever its Content-Encoding says (HEAD, 204, 304 carry none).
  boost::system::error_code finish();

 private:
  boost::system::error_code to_sink(std::string_view piece);

  const HttpBodySink& sink_;
  const std::size_t max_body_;
  std::size_t delivered_ = 0;
  bool received_any_ = false;
  boost::system::error_code failure_;
  std::optional<ContentDecoder> decoder_;  // none for identity: pieces go straight to the sink
};

}  // namespace securechannel::detail
