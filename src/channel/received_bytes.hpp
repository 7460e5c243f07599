// Bytes Asio received from a connection's socket for OpenSSL to read next (see socket_bio.cpp).
//
// Reads go through Asio's async_receive rather than a readiness wait followed by recv(2): Asio
// knows when the socket was drained, so the next read waits for epoll without trying first, and
// it needs no epoll_ctl per wait. The block exists only while bytes wait in it or a receive is
// pending, so an idle connection holds none.
#pragma once

#include <cstddef>

namespace securechannel::detail {

struct ReceivedBytes {
  // A whole TLS record as sent (16 KB of plaintext, 256 bytes of expansion, the 5-byte header),
  // so a bulk transfer costs one system call per record at most.
  static constexpr std::size_t capacity = 16 * 1024 + 256 + 5;

  std::size_t begin = 0;  // next byte OpenSSL reads
  std::size_t end = 0;    // one past the last byte received
  char bytes[capacity];

  std::size_t available() const noexcept { return end - begin; }
};

}  // namespace securechannel::detail
