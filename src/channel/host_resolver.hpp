// Host names to addresses without ever waiting on a hung resolver. getaddrinfo cannot be
// cancelled, and Asio 1.81's resolver runs it on one private thread per io_context (so one hung
// lookup delays every later one) and joins that thread when the io_context is destroyed. Here a
// lookup runs on a small set of detached threads of our own, and a caller waits for it only
// until its deadline, or until it gives up (a channel aborted by the pool's shutdown), checked
// every abandon_check_interval (abandon_check.hpp); the lookup finishes, or hangs, on its own.
//
//   auto resolver = HostResolver::shared();
//   ResolvedHost found = co_await resolver->resolve("relay.example", "443", deadline, 30s, abandoned);
//   if (found.error == errc::dns_timeout) ...          // no answer before the deadline
//
// Answers are cached per "host:port" and reused while younger than the caller's `max_age`
// (PoolConfig::dns_refresh_interval), so a pool that opens 100 connections asks once. An older
// answer is refreshed in the background and served meanwhile (stale-while-revalidate, as Envoy
// keeps a cluster's last hosts), so a moved endpoint is followed once the refresh answers and a
// dead name server costs nothing while an earlier answer exists; a refresh that says the name no
// longer exists (NXDOMAIN) drops the answer, and the next connect fails with it. Callers that
// ask while a lookup for the name runs wait for that one; a lookup running longer than
// stuck_lookup_after is given up on (its thread stays inside getaddrinfo) and a new one starts.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace securechannel::detail {

struct ResolvedHost {
  // host_not_found (and the others getaddrinfo reports), dns_timeout, operation_aborted.
  boost::system::error_code error{};
  std::vector<boost::asio::ip::tcp::endpoint> endpoints{};
  std::string reason{};  // the resolver's words for a failure, e.g. "Name or service not known"
  bool stale = false;    // an answer older than max_age, served while its refresh runs
};

class HostResolver : public std::enable_shared_from_this<HostResolver> {
 public:
  using Clock = std::chrono::steady_clock;
  // Blocking: what a worker thread runs for one name. The default is getaddrinfo.
  using Lookup = std::function<ResolvedHost(const std::string& host, const std::string& port)>;

  struct Settings {
    Lookup lookup;                 // empty: system_lookup
    std::size_t max_threads = 4;   // lookups at once, not counting stuck ones; more wait for a thread
    std::size_t max_stuck_threads = 12;  // threads left inside a stuck getaddrinfo, at most
    std::size_t max_names = 1024;  // answers kept; beyond, the oldest not being looked up go
    std::chrono::milliseconds stuck_lookup_after{30'000};
  };

  explicit HostResolver(Settings settings);
  // The process's: getaddrinfo on up to 4 threads. Never destroyed before its threads end.
  static std::shared_ptr<HostResolver> shared();
  // getaddrinfo (AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG), addresses in its order.
  static ResolvedHost system_lookup(const std::string& host, const std::string& port);

  // On the calling coroutine's executor, which must be a strand (or run by one thread): a worker
  // wakes the wait by posting a cancel of its timer there. `abandoned` (may be empty) is asked
  // every abandon_check_interval; true ends the wait with operation_aborted.
  boost::asio::awaitable<ResolvedHost> resolve(std::string host, std::string port, Clock::time_point deadline,
                                               std::chrono::milliseconds max_age, std::function<bool()> abandoned);

  // Lookups started (for tests: coalescing and caching are visible here).
  std::size_t lookups_started() const;

 private:
  struct Pending;
  struct Entry {
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // the last good answer
    Clock::time_point resolved_at{};                        // when it came
    std::shared_ptr<Pending> pending;                       // a lookup in flight
  };
  struct Job {
    std::string key, host, port;
    std::shared_ptr<Pending> pending;
  };
  struct Worker {
    Clock::time_point busy_since{};  // of its current lookup; {} when between jobs
  };

  std::shared_ptr<Pending> start_lookup(const std::string& key, const std::string& host, const std::string& port);
  void work(std::shared_ptr<Worker> worker);
  void start_thread_if_needed(Clock::time_point now);
  void finish(const Job& job, ResolvedHost result);
  void forget_oldest();

  const Settings settings_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::deque<Job> jobs_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::size_t lookups_started_ = 0;
};

}  // namespace securechannel::detail
