// Where a SecureChannelPool's shutdown stands: started (acquires fail with shutting_down),
// the grace period the leases have to come back, and the callers of async_shutdown waiting for
// every socket to close. The pool's lock guards it.
#pragma once

#include "securechannel/secure_channel_pool.hpp"

#include <vector>

namespace securechannel::detail {

struct ShutdownState {
  explicit ShutdownState(const boost::asio::any_io_executor& executor) : grace_timer(executor) {}

  bool started = false;
  bool complete = false;       // every socket closed; handlers called
  bool grace_expired = false;  // leases still out after the grace period were closed under them
  boost::asio::steady_timer grace_timer;
  std::vector<SecureChannelPool::ShutdownHandler> handlers;
};

}  // namespace securechannel::detail
