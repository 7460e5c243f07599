#include "http/body_sink_writer.hpp"

#include "securechannel/error.hpp"

#include <boost/beast/http/field.hpp>

namespace securechannel::detail {

using boost::system::error_code;

BodySinkWriter::BodySinkWriter(const HttpBodySink& sink, std::size_t max_body, ContentCoding coding)
    : sink_(sink), max_body_(max_body) {
  if (coding != ContentCoding::identity) {
    decoder_.emplace(coding, [this](std::string_view decoded) { return to_sink(decoded); });
  }
}

ContentCoding BodySinkWriter::coding_of(const boost::beast::http::response_header<>& header, bool decode) {
  if (!decode) return ContentCoding::identity;
  const auto field = header.find(boost::beast::http::field::content_encoding);
  return field == header.end() ? ContentCoding::identity : parse_content_coding(field->value());
}

error_code BodySinkWriter::write(std::string_view received) {
  if (failure_ || received.empty()) return failure_;
  received_any_ = true;
  failure_ = decoder_ ? decoder_->feed(received) : to_sink(received);
  return failure_;
}

error_code BodySinkWriter::finish() {
  if (failure_ || !decoder_ || !received_any_) return failure_;
  failure_ = decoder_->finish();
  return failure_;
}

error_code BodySinkWriter::to_sink(std::string_view piece) {
  if (piece.size() > max_body_ - delivered_) return errc::response_too_large;
  delivered_ += piece.size();
  try {
    return sink_(piece) ? error_code{} : error_code(errc::response_body_aborted);
  } catch (...) {
    // Never through nghttp2's C frames or Asio's handlers: a throwing sink stops like a false one.
    return errc::response_body_aborted;
  }
}

}  // namespace securechannel::detail
