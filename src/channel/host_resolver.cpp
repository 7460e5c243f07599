#include "channel/host_resolver.hpp"

#include "channel/abandon_check.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

namespace securechannel::detail {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A waiting caller, reachable from a worker thread for as long as it waits: the guard below
// clears it when the caller stops, even when its coroutine is destroyed unresumed (its io_context
// shut down), and with it the caller's executor, so that nothing here outlives the io_context.
struct Wakeup : std::enable_shared_from_this<Wakeup> {
  std::mutex mutex;
  asio::steady_timer* timer = nullptr;
  std::optional<asio::any_io_executor> executor;  // the waiting coroutine's strand

  bool waiting() {
    const std::lock_guard lock(mutex);
    return timer != nullptr;
  }
  // From a worker thread: the cancel runs on the caller's strand, where its timer lives.
  void wake() {
    const std::lock_guard lock(mutex);
    if (timer == nullptr) return;
    asio::post(*executor, [self = shared_from_this()] {
      const std::lock_guard still(self->mutex);
      if (self->timer != nullptr) self->timer->cancel();
    });
  }
};

class WakeupGuard {
 public:
  WakeupGuard(std::shared_ptr<Wakeup> wakeup, asio::steady_timer& timer) : wakeup_(std::move(wakeup)) {
    wakeup_->timer = &timer;
    wakeup_->executor = timer.get_executor();
  }
  ~WakeupGuard() {
    const std::lock_guard lock(wakeup_->mutex);
    wakeup_->timer = nullptr;
    wakeup_->executor.reset();
  }
  WakeupGuard(const WakeupGuard&) = delete;
  WakeupGuard& operator=(const WakeupGuard&) = delete;

 private:
  std::shared_ptr<Wakeup> wakeup_;
};

boost::system::error_code lookup_error(int status) {
  switch (status) {
    case EAI_AGAIN: return asio::error::host_not_found_try_again;  // temporary: a stale answer may serve
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      return asio::error::host_not_found;
    case EAI_SERVICE: return asio::error::service_not_found;
    default: return asio::error::no_recovery;
  }
}

}  // namespace

// One lookup's outcome and the callers waiting for it.
struct HostResolver::Pending {
  explicit Pending(Clock::time_point started) : started_at(started) {}
  const Clock::time_point started_at;
  std::mutex mutex;
  std::optional<ResolvedHost> result;
  std::vector<std::shared_ptr<Wakeup>> waiting;
};

HostResolver::HostResolver(Settings settings) : settings_(std::move(settings)) {}

std::shared_ptr<HostResolver> HostResolver::shared() {
  // Leaked on purpose: a worker may still be inside getaddrinfo at exit.
  static auto* const resolver = new std::shared_ptr<HostResolver>(std::make_shared<HostResolver>(Settings{}));
  return *resolver;
}

ResolvedHost HostResolver::system_lookup(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;  // as Asio's resolver: no IPv6 answers on an IPv4-only host
  addrinfo* list = nullptr;
  const int status = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
  ResolvedHost found;
  if (status != 0) {
    found.error = lookup_error(status);
    found.reason = status == EAI_SYSTEM ? std::system_category().message(errno) : ::gai_strerror(status);
    return found;
  }
  for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
    tcp::endpoint endpoint;
    std::memcpy(endpoint.data(), entry->ai_addr, std::min<std::size_t>(entry->ai_addrlen, sizeof(sockaddr_in6)));
    found.endpoints.push_back(endpoint);
  }
  ::freeaddrinfo(list);
  if (found.endpoints.empty()) {
    found.error = asio::error::host_not_found;
    found.reason = "no IPv4 or IPv6 address";
  }
  return found;
}

asio::awaitable<ResolvedHost> HostResolver::resolve(std::string host, std::string port, Clock::time_point deadline,
                                                    std::chrono::milliseconds max_age,
                                                    std::function<bool()> abandoned) {
  const std::string key = host + ":" + port;
  std::shared_ptr<Pending> pending;
  {
    const auto now = Clock::now();
    const std::lock_guard lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) {
      if (entries_.size() >= settings_.max_names) forget_oldest();
      found = entries_.emplace(key, Entry{}).first;
    }
    Entry& entry = found->second;
    if (!entry.endpoints.empty() && now - entry.resolved_at < max_age) co_return ResolvedHost{.endpoints = entry.endpoints};
    if (entry.pending && now - entry.pending->started_at > settings_.stuck_lookup_after) entry.pending.reset();
    if (!entry.pending) entry.pending = start_lookup(key, host, port);
    // An older answer serves while the refresh runs; the connects after it get the new one.
    if (!entry.endpoints.empty()) co_return ResolvedHost{.endpoints = entry.endpoints, .stale = true};
    pending = entry.pending;
  }

  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto wakeup = std::make_shared<Wakeup>();
  const WakeupGuard guard(wakeup, timer);
  {
    const std::lock_guard lock(pending->mutex);
    if (!pending->result) {
      // Callers that stopped waiting (deadline, abandoned) leave no trace behind.
      std::erase_if(pending->waiting, [](const std::shared_ptr<Wakeup>& other) { return !other->waiting(); });
      pending->waiting.push_back(wakeup);
    }
  }
  for (;;) {
    {
      const std::lock_guard lock(pending->mutex);
      if (pending->result) co_return *pending->result;
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (abandoned && abandoned()) co_return ResolvedHost{.error = asio::error::operation_aborted};
    timer.expires_at(std::min(deadline, now + abandon_check_interval));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return ResolvedHost{.error = errc::dns_timeout,
                         .reason = "the resolver gave no answer for " + host + " within the connect timeout"};
}

std::shared_ptr<HostResolver::Pending> HostResolver::start_lookup(const std::string& key, const std::string& host,
                                                                  const std::string& port) {
  // Under mutex_.
  const auto now = Clock::now();
  auto pending = std::make_shared<Pending>(now);
  jobs_.push_back(Job{key, host, port, pending});
  ++lookups_started_;
  start_thread_if_needed(now);
  return pending;
}

void HostResolver::start_thread_if_needed(Clock::time_point now) {
  // Under mutex_. A worker stuck in getaddrinfo longer than stuck_lookup_after no longer counts
  // against max_threads (its callers have given up on it), up to max_stuck_threads of them.
  const auto stuck = static_cast<std::size_t>(std::count_if(workers_.begin(), workers_.end(), [&](const auto& worker) {
    return worker->busy_since != Clock::time_point{} && now - worker->busy_since > settings_.stuck_lookup_after;
  }));
  if (workers_.size() - stuck >= settings_.max_threads) return;
  if (workers_.size() >= settings_.max_threads + settings_.max_stuck_threads) return;
  auto worker = std::make_shared<Worker>();
  try {
    std::thread([self = shared_from_this(), worker] { self->work(worker); }).detach();
    workers_.push_back(std::move(worker));
  } catch (const std::system_error&) {
    // No thread now: the job waits for a running worker or the next lookup's try; its callers
    // have their deadlines.
  }
}

void HostResolver::work(std::shared_ptr<Worker> worker) {
  for (;;) {
    Job job;
    {
      const std::lock_guard lock(mutex_);
      if (jobs_.empty()) {
        std::erase(workers_, worker);
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
      worker->busy_since = Clock::now();
    }
    ResolvedHost result = settings_.lookup ? settings_.lookup(job.host, job.port) : system_lookup(job.host, job.port);
    {
      const std::lock_guard lock(mutex_);
      worker->busy_since = {};
    }
    finish(job, std::move(result));
  }
}

void HostResolver::finish(const Job& job, ResolvedHost result) {
  {
    const std::lock_guard lock(mutex_);
    const auto found = entries_.find(job.key);
    if (found != entries_.end() && found->second.pending == job.pending) {
      if (!result.error) {
        found->second.endpoints = result.endpoints;
        found->second.resolved_at = Clock::now();
      } else if (result.error == asio::error::host_not_found) {
        found->second.endpoints.clear();  // the name is gone: its old addresses are not served
      }
      found->second.pending.reset();
    }
  }
  std::vector<std::shared_ptr<Wakeup>> waiting;
  {
    const std::lock_guard lock(job.pending->mutex);
    job.pending->result = std::move(result);
    waiting.swap(job.pending->waiting);
  }
  for (const auto& waiter : waiting) waiter->wake();
}

void HostResolver::forget_oldest() {
  // Under mutex_. Names being looked up stay: their callers are waiting for them.
  auto oldest = entries_.end();
  for (auto entry = entries_.begin(); entry != entries_.end(); ++entry) {
    if (entry->second.pending) continue;
    if (oldest == entries_.end() || entry->second.resolved_at < oldest->second.resolved_at) oldest = entry;
  }
  if (oldest != entries_.end()) entries_.erase(oldest);
}

std::size_t HostResolver::lookups_started() const {
  const std::lock_guard lock(mutex_);
  return lookups_started_;
}

}  // namespace securechannel::detail
