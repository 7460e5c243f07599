#include "channel/socket_bio.hpp"

#include "channel/received_bytes.hpp"
#include "securechannel/secure_channel.hpp"

#include <openssl/bio.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace securechannel::detail {
namespace {

bool retryable(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

}  // namespace

// The channel's socket and received bytes, for the BIO's callbacks (SecureChannel's friend).
struct SocketBioAccess {
  static int descriptor(SecureChannel& channel) { return channel.socket_.native_handle(); }

  // Serves bytes Asio received first. 1 when some were read; 0 with the BIO's flags telling
  // retry or end of stream otherwise.
  static int read(SecureChannel& channel, BIO* bio, char* data, std::size_t size, std::size_t* read) {
    if (ReceivedBytes* received = channel.received_.get(); received != nullptr && received->available() != 0) {
      const std::size_t taken = std::min(size, received->available());
      std::memcpy(data, received->bytes + received->begin, taken);
      received->begin += taken;
      if (received->available() == 0 && !channel.receive_pending_ && !channel.warm_) channel.received_.reset();
      *read = taken;
      return 1;
    }
    *read = 0;
    if (channel.input_closed_) {
      BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // SSL tells EOF from an error by this
      return 0;
    }
    if (channel.reading_through_asio_ || channel.receive_pending_) {
      BIO_set_retry_read(bio);
      return 0;
    }
    // A handshake or a probe reading for OpenSSL: not a read the HTTP reuse check may rely on.
    channel.emptied_by_last_read_ = false;
    const ssize_t received = ::recv(descriptor(channel), data, size, 0);
    if (received > 0) {
      *read = static_cast<std::size_t>(received);
      return 1;
    }
    if (received < 0 && retryable(errno)) BIO_set_retry_read(bio);
    if (received == 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
    return 0;
  }
};

namespace {

SecureChannel& channel_of(BIO* bio) { return *static_cast<SecureChannel*>(BIO_get_data(bio)); }

int write_ex(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(SocketBioAccess::descriptor(channel_of(bio)), data, size, MSG_NOSIGNAL);
  if (sent >= 0) {
    *written = static_cast<std::size_t>(sent);
    return 1;
  }
  if (retryable(errno)) BIO_set_retry_write(bio);
  *written = 0;
  return 0;
}

int read_ex(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  BIO_clear_retry_flags(bio);
  return SocketBioAccess::read(channel_of(bio), bio, data, size, read);
}

long control(BIO* bio, int command, long, void* pointer) {
  switch (command) {
    case BIO_C_GET_FD:  // SSL_get_fd
      if (pointer != nullptr) *static_cast<int*>(pointer) = SocketBioAccess::descriptor(channel_of(bio));
      return SocketBioAccess::descriptor(channel_of(bio));
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered here
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0;
    default:
      return 0;  // no KTLS, no duplication, no pending bytes of our own
  }
}

int create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                    "securechannel socket (MSG_NOSIGNAL)");
    if (made != nullptr) {
      BIO_meth_set_write_ex(made, write_ex);
      BIO_meth_set_read_ex(made, read_ex);
      BIO_meth_set_ctrl(made, control);
      BIO_meth_set_create(made, create);
    }
    return made;
  }();
  return method;
}

}  // namespace

BIO* new_socket_bio(SecureChannel& channel) {
  BIO_METHOD* method = socket_method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, &channel);
  return bio;
}

}  // namespace securechannel::detail
