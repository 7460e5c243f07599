#include "monitor/history_sampler.hpp"

#include "monitor/pool_history.hpp"

namespace securechannel::monitor {

std::shared_ptr<HistorySampler> HistorySampler::start(const boost::asio::any_io_executor& executor,
                                                      std::weak_ptr<const MonitoredPools> pools) {
  auto sampler = std::make_shared<HistorySampler>(executor, std::move(pools));
  sampler->sample_and_arm();
  return sampler;
}

HistorySampler::HistorySampler(const boost::asio::any_io_executor& executor, std::weak_ptr<const MonitoredPools> pools)
    : timer_(executor), pools_(std::move(pools)) {}

void HistorySampler::stop() {
  stopped_ = true;
  timer_.cancel();
}

void HistorySampler::sample_and_arm() {
  const auto pools = pools_.lock();
  if (stopped_ || !pools) return;
  pools->record_history();
  timer_.expires_after(PoolHistory::interval);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code error) {
    if (error) return;
    if (const auto self = weak.lock()) self->sample_and_arm();
  });
}

}  // namespace securechannel::monitor
