// The leased connection's channel for the library's protocol code, which tunes it while it holds
// the lease (an HTTP/2 session keeps its buffers warm; HTTP/1.1 probes a reused connection
// before writing to it). Lease::channel() gives users a read-only view.
#pragma once

#include "securechannel/lease.hpp"

namespace securechannel::detail {

struct LeaseInternals {
  static SecureChannel& channel(Lease& lease) noexcept { return lease.connection_->channel(); }
};

}  // namespace securechannel::detail
