// When a SecureChannelPool's explicit background work runs: the cleanup task's timer (armed
// only after run_cleanup_task()) and the last rotation of the recent-latency histograms. The
// pool's lock guards it.
#pragma once

#include "securechannel/clock.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace securechannel::detail {

struct MaintenanceSchedule {
  MaintenanceSchedule(const boost::asio::any_io_executor& executor, Clock::time_point now)
      : cleanup_timer(executor), histograms_rotated_at(now) {}

  boost::asio::steady_timer cleanup_timer;
  bool cleanup_task_running = false;
  Clock::time_point histograms_rotated_at;
};

}  // namespace securechannel::detail
