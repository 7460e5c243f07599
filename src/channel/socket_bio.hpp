// The OpenSSL BIO a SecureChannel's SSL reads and writes through: OpenSSL's own socket BIO
// writes with write(2), which raises SIGPIPE when the peer has gone and kills a process that did
// not ignore the signal. A library must not require that of its users, nor change the process's
// signal disposition, so this BIO sends with MSG_NOSIGNAL and reports EPIPE as an error instead.
#pragma once

struct bio_st;

namespace securechannel::detail {

// A BIO over the connected, non-blocking socket `descriptor`, which it does not close. nullptr
// when OpenSSL cannot allocate it.
bio_st* new_socket_bio(int descriptor);

}  // namespace securechannel::detail
