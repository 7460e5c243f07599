// What a SecureChannelPool's cleanup pass keeps between passes: its timer (armed only after
// run_cleanup_task()), the last rotation of the recent-latency histograms, and the health marks
// it scores, which checkout reads to pass over a low-scoring connection. The pool's lock guards
// it.
#pragma once

#include "pool/health_marks.hpp"
#include "securechannel/clock.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace securechannel::detail {

struct MaintenanceState {
  MaintenanceState(const boost::asio::any_io_executor& executor, Clock::time_point now)
      : cleanup_timer(executor), histograms_rotated_at(now) {}

  boost::asio::steady_timer cleanup_timer;
  bool cleanup_task_running = false;
  Clock::time_point histograms_rotated_at;
  HealthMarks health_marks;  // connections scoring below healthy
};

}  // namespace securechannel::detail
