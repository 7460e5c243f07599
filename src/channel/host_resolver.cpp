#include "channel/host_resolver.hpp"

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

// One lookup's outcome and the callers waiting for it.
struct HostResolver::Pending {
  std::mutex mutex;
  std::optional<ResolvedHost> result;
  std::vector<std::function<void()>> wake;  // each wakes one waiting caller (or does nothing)
};

namespace {

// A waiting caller's timer, reachable from a worker thread for as long as the caller waits: the
// guard below clears it when the caller stops, even when its coroutine is destroyed unresumed
// (its io_context shut down). A worker only posts to the caller's executor while it is set.
struct Wakeup {
  std::mutex mutex;
  asio::steady_timer* timer = nullptr;
};

class WakeupGuard {
 public:
  WakeupGuard(std::shared_ptr<Wakeup> wakeup, asio::steady_timer& timer) : wakeup_(std::move(wakeup)) {
    wakeup_->timer = &timer;
  }
  ~WakeupGuard() {
    const std::lock_guard lock(wakeup_->mutex);
    wakeup_->timer = nullptr;
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
  std::vector<tcp::endpoint> previous;
  {
    const std::lock_guard lock(mutex_);
    auto found = entries_.find(key);
    if (found != entries_.end() && !found->second.endpoints.empty() &&
        Clock::now() - found->second.resolved_at < max_age) {
      co_return ResolvedHost{.endpoints = found->second.endpoints};
    }
    if (found == entries_.end()) {
      if (entries_.size() >= settings_.max_names) forget_oldest();
      found = entries_.emplace(key, Entry{}).first;
    }
    previous = found->second.endpoints;
    if (!found->second.pending) found->second.pending = start_lookup(key, host, port);
    pending = found->second.pending;
  }

  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  auto wakeup = std::make_shared<Wakeup>();
  const WakeupGuard guard(wakeup, timer);
  {
    const std::lock_guard lock(pending->mutex);
    if (!pending->result) {
      pending->wake.push_back([wakeup, executor] {
        const std::lock_guard waiting(wakeup->mutex);
        if (wakeup->timer == nullptr) return;
        asio::post(executor, [wakeup] {
          const std::lock_guard still_waiting(wakeup->mutex);
          if (wakeup->timer != nullptr) wakeup->timer->cancel();
        });
      });
    }
  }
  std::optional<ResolvedHost> result;
  for (;;) {
    {
      const std::lock_guard lock(pending->mutex);
      if (pending->result) {
        result = pending->result;
        break;
      }
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (abandoned && abandoned()) co_return ResolvedHost{.error = asio::error::operation_aborted};
    timer.expires_at(std::min(deadline, now + abandon_check_interval));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (result && !result->error) co_return std::move(*result);
  const bool temporary = !result || result->error == asio::error::host_not_found_try_again;
  if (temporary && !previous.empty()) co_return ResolvedHost{.endpoints = std::move(previous), .stale = true};
  if (!result) {
    co_return ResolvedHost{.error = errc::dns_timeout,
                           .reason = "the resolver gave no answer for " + host + " within the connect timeout"};
  }
  co_return std::move(*result);
}

std::shared_ptr<HostResolver::Pending> HostResolver::start_lookup(const std::string& key, const std::string& host,
                                                                  const std::string& port) {
  // Under mutex_.
  auto pending = std::make_shared<Pending>();
  jobs_.push_back(Job{key, host, port, pending});
  ++lookups_started_;
  if (threads_ < settings_.max_threads) {
    try {
      std::thread([self = shared_from_this()] { self->work(); }).detach();
      ++threads_;
    } catch (const std::system_error&) {
      // No thread now: the job waits for a running one; its callers have their deadlines.
    }
  }
  return pending;
}

void HostResolver::work() {
  for (;;) {
    Job job;
    {
      const std::lock_guard lock(mutex_);
      if (jobs_.empty()) {
        --threads_;
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    ResolvedHost result = settings_.lookup ? settings_.lookup(job.host, job.port) : system_lookup(job.host, job.port);
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
      }
      found->second.pending.reset();
    }
  }
  std::vector<std::function<void()>> wake;
  {
    const std::lock_guard lock(job.pending->mutex);
    job.pending->result = std::move(result);
    wake.swap(job.pending->wake);
  }
  for (const auto& waiter : wake) waiter();
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
