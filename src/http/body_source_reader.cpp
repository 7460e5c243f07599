#include "http/body_source_reader.hpp"

#include "securechannel/error.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <charconv>

namespace securechannel::detail {

BodySourceReader::BodySourceReader(const HttpBodySource& source, std::optional<std::uint64_t> content_length)
    : source_(source), content_length_(content_length) {}

std::optional<std::uint64_t> BodySourceReader::declared_length(const HttpRequest& request) {
  const auto field = request.find(boost::beast::http::field::content_length);
  if (field == request.end()) return std::nullopt;
  const std::string_view text = field->value();
  std::uint64_t length = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return length;
}

std::size_t BodySourceReader::read(std::span<char> buffer, boost::system::error_code& error) {
  error = {};
  if (failed_) {
    error = errc::request_body_aborted;
    return 0;
  }
  if (content_length_) {
    const std::uint64_t remaining = *content_length_ - supplied_;
    if (remaining == 0) return 0;
    buffer = buffer.first(static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size())));
  }
  std::optional<std::size_t> got;
  try {
    got = source_(buffer);
  } catch (...) {
    // Never through nghttp2's C frames or Asio's handlers: a throwing source fails like an empty one.
  }
  const bool short_of_length = got && *got == 0 && content_length_ && supplied_ < *content_length_;
  if (!got || *got > buffer.size() || short_of_length) {
    failed_ = true;
    error = errc::request_body_aborted;
    return 0;
  }
  supplied_ += *got;
  return *got;
}

}  // namespace securechannel::detail
