// write_all / read_exact over any AsyncStream (a Lease, a SecureChannel): the whole buffer or an
// error, never a short transfer. Thin names over asio::async_write / asio::async_read so that
// code written against the seeds' `write_all`/`read_exact` reads the same.
//
//   securechannel::async_write_all(lease, boost::asio::buffer(request), handler);
//   securechannel::async_read_exact(lease, boost::asio::buffer(header, 4), handler);
#pragma once

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <utility>

namespace securechannel {

// Handler: void(boost::system::error_code, std::size_t bytes_written).
template <class AsyncWriteStream, class ConstBufferSequence, class Token>
auto async_write_all(AsyncWriteStream& stream, const ConstBufferSequence& buffers, Token&& token) {
  return boost::asio::async_write(stream, buffers, std::forward<Token>(token));
}

// Handler: void(boost::system::error_code, std::size_t bytes_read); fails with asio::error::eof
// if the stream ends before the buffers are full.
template <class AsyncReadStream, class MutableBufferSequence, class Token>
auto async_read_exact(AsyncReadStream& stream, const MutableBufferSequence& buffers, Token&& token) {
  return boost::asio::async_read(stream, buffers, boost::asio::transfer_all(), std::forward<Token>(token));
}

}  // namespace securechannel
