// Reads a request body from HttpRequestOptions::body_source for either protocol: one piece per
// call into the protocol's buffer, held to the request's Content-Length when it has one.
//
//   BodySourceReader reader(options.body_source, BodySourceReader::declared_length(request));
//   boost::system::error_code error;
//   const std::size_t got = reader.read(buffer, error);   // 0: the body is complete
#pragma once

#include "securechannel/http_message.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace securechannel::detail {

class BodySourceReader {
 public:
  // `source` must outlive the reader.
  BodySourceReader(const HttpBodySource& source, std::optional<std::uint64_t> content_length);

  // The request's Content-Length, when it has a valid one.
  static std::optional<std::uint64_t> declared_length(const HttpRequest& request);

  // Fills the start of `buffer` and returns how many bytes (0: the body is complete). With a
  // Content-Length the source is asked for no more than what remains, and not at all once it is
  // reached. errc::request_body_aborted when the source fails (no value, or an exception), ends
  // before the Content-Length, or gives more than it asked for; after an error it reads nothing.
  std::size_t read(std::span<char> buffer, boost::system::error_code& error);

 private:
  const HttpBodySource& source_;
  const std::optional<std::uint64_t> content_length_;
  std::uint64_t supplied_ = 0;
  bool failed_ = false;
};

}  // namespace securechannel::detail
