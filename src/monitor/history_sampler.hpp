// HistorySampler: calls MonitoredPools::record_history() every PoolHistory::interval, so that the
// dashboard's charts hold the quarter of an hour before the page was opened. The pools are held
// weakly; stop() (or the pools going away) ends it.
//
// Single-threaded: start and stop it on the thread that runs its executor (the daemon's).
#pragma once

#include "securechannel/monitored_pools.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace securechannel::monitor {

class HistorySampler : public std::enable_shared_from_this<HistorySampler> {
 public:
  static std::shared_ptr<HistorySampler> start(const boost::asio::any_io_executor& executor,
                                               std::weak_ptr<const MonitoredPools> pools);
  HistorySampler(const boost::asio::any_io_executor& executor, std::weak_ptr<const MonitoredPools> pools);
  void stop();

 private:
  void sample_and_arm();

  boost::asio::steady_timer timer_;
  std::weak_ptr<const MonitoredPools> pools_;
  bool stopped_ = false;
};

}  // namespace securechannel::monitor
