#include "channel/socket_bio.hpp"

#include <openssl/bio.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace securechannel::detail {
namespace {

int descriptor_of(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

bool retryable(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int write_ex(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(descriptor_of(bio), data, size, MSG_NOSIGNAL);
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
  const ssize_t received = ::recv(descriptor_of(bio), data, size, 0);
  if (received > 0) {
    *read = static_cast<std::size_t>(received);
    return 1;
  }
  *read = 0;
  if (received < 0 && retryable(errno)) BIO_set_retry_read(bio);
  if (received == 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // SSL tells EOF from an error by this
  return 0;
}

long control(BIO* bio, int command, long, void* pointer) {
  switch (command) {
    case BIO_C_GET_FD:  // SSL_get_fd
      if (pointer != nullptr) *static_cast<int*>(pointer) = descriptor_of(bio);
      return descriptor_of(bio);
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

BIO* new_socket_bio(int descriptor) {
  BIO_METHOD* method = socket_method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(descriptor)));
  return bio;
}

}  // namespace securechannel::detail
