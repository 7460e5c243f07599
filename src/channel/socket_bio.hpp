// The OpenSSL BIO a SecureChannel's SSL reads and writes through.
//
// Writes: OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when the peer has
// gone and kills a process that did not ignore the signal. A library must not require that of its
// users, nor change the process's signal disposition, so this BIO sends with MSG_NOSIGNAL and
// reports EPIPE as an error instead.
// Reads: bytes Asio received for the channel (ReceivedBytes) come first. Inside a composed read
// the BIO never calls recv(2) itself (Asio does, knowing when to wait); elsewhere (handshake,
// idle probes) it reads the non-blocking socket directly.
#pragma once

struct bio_st;

namespace securechannel {
class SecureChannel;
}

namespace securechannel::detail {

// A BIO over `channel`'s connected, non-blocking socket, which it does not close. nullptr when
// OpenSSL cannot allocate it.
bio_st* new_socket_bio(SecureChannel& channel);

}  // namespace securechannel::detail
