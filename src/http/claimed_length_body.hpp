// A Beast body that holds a response in a std::string, like http::string_body, except that it
// does not believe the Content-Length: string_body reserves the whole claimed length before a
// byte of it arrives, so a server that says "Content-Length: 60000000" and sends nothing costs
// us 60 MB per request. This one reserves at most 1 MiB ahead and grows with what arrives
// (geometrically, as std::string does). max_response_body still bounds the total.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

namespace securechannel::detail {

struct ClaimedLengthBody {
  using value_type = std::string;

  // The most reserved on the strength of a Content-Length alone (HTTP/2 reserves the same).
  static constexpr std::uint64_t reserve_ahead_limit = 1024 * 1024;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& error) {
      error = {};
      if (length) body_.reserve(static_cast<std::size_t>(std::min(*length, reserve_ahead_limit)));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& error) {
      const std::size_t extra = boost::asio::buffer_size(buffers);
      const std::size_t size = body_.size();
      if (extra > body_.max_size() - size) {
        error = boost::beast::http::error::buffer_overflow;
        return 0;
      }
      error = {};
      body_.resize(size + extra);
      char* out = body_.data() + size;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
        const boost::asio::const_buffer piece(*it);
        std::memcpy(out, piece.data(), piece.size());
        out += piece.size();
      }
      return extra;
    }

    void finish(boost::system::error_code& error) { error = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace securechannel::detail
