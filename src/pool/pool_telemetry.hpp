// Where a pool's errors are counted: once each, by kind (`<ns>_errors_total{kind=...}`), whether
// they happen while connecting or during a lease's I/O. Shared with the connections because
// their last operations may complete after the pool is gone.
#pragma once

#include "securechannel/error.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace securechannel::detail {

struct PoolErrorSink {
  void record(const boost::system::error_code& error) {
    const std::string kind(error_kind(error));
    std::lock_guard lock(mutex);
    ++by_kind[kind];
    ++total;
  }

  mutable std::mutex mutex;
  std::map<std::string, std::uint64_t> by_kind;
  std::uint64_t total = 0;
};

}  // namespace securechannel::detail
