// ChannelFailure: what a SecureChannel keeps once something has failed, allocated only then:
// OpenSSL's reasons (the TlsFailure that tls_failure() shows) and the error that made the
// channel unusable. Every later read or write reports that error: an HTTP/2 session reads while
// it writes, and when the write is reset the read must say "connection reset", not a bare
// not_connected that hides the cause.
#pragma once

#include "securechannel/tls_failure.hpp"

#include <boost/system/error_code.hpp>

namespace securechannel::detail {

struct ChannelFailure : TlsFailure {
  boost::system::error_code cause;  // the first failure that made the channel unusable
};

}  // namespace securechannel::detail
