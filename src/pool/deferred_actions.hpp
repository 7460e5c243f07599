// What a pool decides under its lock but does after releasing it: completing handlers, starting
// and closing connections. Running them outside the lock keeps any of them from re-entering the
// pool while it is held.
#pragma once

#include "securechannel/secure_channel_pool.hpp"

#include <memory>
#include <string>
#include <vector>

namespace securechannel {

struct SecureChannelPool::Deferred {
  struct Completion {
    AcquireHandler handler;
    boost::system::error_code error;
    Lease lease;
  };

  struct Actions {
    std::vector<Completion> completions;
    std::vector<std::shared_ptr<detail::PooledConnection>> connects;
    std::vector<std::shared_ptr<detail::PooledConnection>> graceful_closes;
    std::vector<std::shared_ptr<detail::PooledConnection>> abrupt_closes;
    std::vector<ShutdownHandler> shutdown_completions;
    std::vector<std::function<void()>> retire_listeners;  // Lease::on_retire, each called once
    // timed_out when leases were still out after the grace period and were cut off.
    boost::system::error_code shutdown_error;
    // Logged after the lock: a log sink must be free to call back into the pool.
    struct LogLine {
      LogLevel level;
      std::uint64_t connection_id;  // 0: about the pool
      std::string message;
    };
    std::vector<LogLine> log_lines;
  };

  // Made on the first thing deferred: most acquires and releases defer nothing, and six empty
  // vectors cost them a fifth of their instructions to construct, walk and destroy.
  Actions& actions() {
    if (!pending) pending = std::make_unique<Actions>();
    return *pending;
  }

  void complete(AcquireHandler handler, boost::system::error_code error, Lease lease = {}) {
    actions().completions.push_back({std::move(handler), error, std::move(lease)});
  }

  std::unique_ptr<Actions> pending;
};

}  // namespace securechannel
