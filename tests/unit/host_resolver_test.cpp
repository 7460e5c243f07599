// HostResolver with a scripted lookup: the deadline ends a wait on a lookup that never returns,
// callers share one lookup, answers are cached for max_age and then refreshed while the old one
// serves, a vanished name stops being served, a stuck lookup is given up on, an abandoned caller
// stops waiting, and hung lookups hold at most max_threads threads.
#include "channel/host_resolver.hpp"

#include "securechannel/error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace securechannel::detail {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Answers from a table; a name marked hanging blocks until release() (the test's end at the latest).
class ScriptedLookup {
 public:
  ResolvedHost operator()(const std::string& host, const std::string&) {
    std::unique_lock lock(mutex_);
    ++calls_;
    ++running_;
    most_running_ = std::max(most_running_, running_);
    const bool once = hanging_once_.erase(host) > 0;
    released_.wait(lock, [&] { return released_all_ || (!once && !hanging_.contains(host)); });
    --running_;
    const auto answer = answers_.find(host);
    if (answer != answers_.end()) return answer->second;
    return ResolvedHost{.error = asio::error::host_not_found, .reason = "Name or service not known"};
  }

  void answer(const std::string& host, const std::string& address) {
    const std::lock_guard lock(mutex_);
    answers_[host] = ResolvedHost{.endpoints = {{asio::ip::make_address(address), 443}}};
  }
  void fail(const std::string& host, boost::system::error_code error) {
    const std::lock_guard lock(mutex_);
    answers_[host] = ResolvedHost{.error = error, .reason = error.message()};
  }
  void hang(const std::string& host) {
    const std::lock_guard lock(mutex_);
    hanging_.insert(host);
  }
  // Only the next lookup of `host` hangs (until the test ends).
  void hang_once(const std::string& host) {
    const std::lock_guard lock(mutex_);
    hanging_once_.insert(host);
  }
  void release(const std::string& host) {
    {
      const std::lock_guard lock(mutex_);
      hanging_.erase(host);
    }
    released_.notify_all();
  }
  void release_all() {
    {
      const std::lock_guard lock(mutex_);
      released_all_ = true;
    }
    released_.notify_all();
  }
  int most_running() const {
    const std::lock_guard lock(mutex_);
    return most_running_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::map<std::string, ResolvedHost> answers_;
  std::set<std::string> hanging_;
  std::set<std::string> hanging_once_;
  bool released_all_ = false;
  int calls_ = 0;
  int running_ = 0;
  int most_running_ = 0;
};

class HostResolverTest : public ::testing::Test {
 protected:
  // The lookup is shared with the resolver's detached threads, which may outlive the test.
  std::shared_ptr<HostResolver> make(std::size_t max_threads = 4,
                                     std::chrono::milliseconds stuck_lookup_after = std::chrono::seconds(30)) {
    return std::make_shared<HostResolver>(HostResolver::Settings{
        .lookup = [lookup = lookup](const std::string& host, const std::string& port) { return (*lookup)(host, port); },
        .max_threads = max_threads,
        .stuck_lookup_after = stuck_lookup_after});
  }

  // Asks until the answer satisfies `done` (a refresh runs in the background), for at most 10 s.
  ResolvedHost resolve_until(HostResolver& resolver, const std::string& host,
                             const std::function<bool(const ResolvedHost&)>& done) {
    ResolvedHost answer;
    for (int i = 0; i < 1000; ++i) {
      answer = resolve(resolver, host, 1s, 0ms);
      if (done(answer)) break;
      std::this_thread::sleep_for(10ms);
    }
    return answer;
  }

  // Runs resolve() for each name at once on one io_context; returns their answers in order.
  std::vector<ResolvedHost> resolve_all(HostResolver& resolver, const std::vector<std::string>& hosts,
                                        std::chrono::milliseconds timeout, std::chrono::milliseconds max_age = 0ms,
                                        std::function<bool()> abandoned = {}) {
    asio::io_context io;
    std::vector<ResolvedHost> answers(hosts.size());
    const auto deadline = Clock::now() + timeout;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      asio::co_spawn(io, resolver.resolve(hosts[i], "443", deadline, max_age, abandoned),
                     [&answers, i](std::exception_ptr failure, ResolvedHost answer) {
                       if (failure) std::rethrow_exception(failure);
                       answers[i] = std::move(answer);
                     });
    }
    io.run();
    return answers;
  }
  ResolvedHost resolve(HostResolver& resolver, const std::string& host, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds max_age = 0ms) {
    return resolve_all(resolver, {host}, timeout, max_age).front();
  }

  void TearDown() override { lookup->release_all(); }

  std::shared_ptr<ScriptedLookup> lookup = std::make_shared<ScriptedLookup>();
};

TEST_F(HostResolverTest, ALookupThatNeverReturnsEndsAtTheDeadline) {
  auto resolver = make();
  lookup->hang("hung.example");
  const auto started = Clock::now();
  const ResolvedHost answer = resolve(*resolver, "hung.example", 200ms);
  EXPECT_EQ(answer.error, errc::dns_timeout);
  EXPECT_EQ(answer.reason, "the resolver gave no answer for hung.example within the connect timeout");
  EXPECT_LT(Clock::now() - started, 5s) << "the caller did not wait for the lookup";
}

TEST_F(HostResolverTest, CallersAskingMeanwhileShareOneLookup) {
  auto resolver = make();
  lookup->answer("relay.example", "192.0.2.10");
  lookup->hang("relay.example");
  std::thread releaser([&] {
    std::this_thread::sleep_for(100ms);
    lookup->release("relay.example");
  });
  const auto answers = resolve_all(*resolver, {"relay.example", "relay.example", "relay.example"}, 10s);
  releaser.join();
  for (const ResolvedHost& answer : answers) {
    ASSERT_FALSE(answer.error) << answer.reason;
    EXPECT_EQ(answer.endpoints.at(0).address().to_string(), "192.0.2.10");
  }
  EXPECT_EQ(resolver->lookups_started(), 1u);
}

TEST_F(HostResolverTest, AnAnswerIsReusedWhileYoungerThanMaxAgeThenRefreshed) {
  auto resolver = make();
  lookup->answer("relay.example", "192.0.2.10");
  EXPECT_FALSE(resolve(*resolver, "relay.example", 5s, 1h).error);
  lookup->answer("relay.example", "192.0.2.20");  // the endpoint moved
  EXPECT_EQ(resolve(*resolver, "relay.example", 5s, 1h).endpoints.at(0).address().to_string(), "192.0.2.10");
  EXPECT_EQ(resolver->lookups_started(), 1u);
  // Older than max_age: served once more while the refresh runs, then the new answer.
  const ResolvedHost old = resolve(*resolver, "relay.example", 5s, 0ms);
  EXPECT_TRUE(old.stale);
  EXPECT_EQ(old.endpoints.at(0).address().to_string(), "192.0.2.10");
  const ResolvedHost moved = resolve_until(*resolver, "relay.example", [](const ResolvedHost& answer) {
    return !answer.endpoints.empty() && answer.endpoints[0].address().to_string() == "192.0.2.20";
  });
  EXPECT_EQ(moved.endpoints.at(0).address().to_string(), "192.0.2.20") << "followed once the refresh answered";
}

TEST_F(HostResolverTest, AnOldAnswerServesAtOnceWhileItsRefreshHangsOrFailsForNow) {
  auto resolver = make();
  lookup->answer("relay.example", "192.0.2.10");
  ASSERT_FALSE(resolve(*resolver, "relay.example", 5s).error);
  lookup->hang("relay.example");
  const auto started = Clock::now();
  const ResolvedHost hung = resolve(*resolver, "relay.example", 10s);
  ASSERT_FALSE(hung.error);
  EXPECT_TRUE(hung.stale);
  EXPECT_EQ(hung.endpoints.at(0).address().to_string(), "192.0.2.10");
  EXPECT_LT(Clock::now() - started, 5s) << "not held until the deadline: a connect still needs its time";

  auto other = make();
  lookup->answer("other.example", "192.0.2.30");
  ASSERT_FALSE(resolve(*other, "other.example", 5s).error);
  lookup->fail("other.example", asio::error::host_not_found_try_again);
  for (int i = 0; i < 3; ++i) {
    const ResolvedHost again = resolve(*other, "other.example", 5s);
    ASSERT_FALSE(again.error);
    EXPECT_TRUE(again.stale);
    std::this_thread::sleep_for(20ms);  // the failed refreshes come back; the answer stays
  }
}

TEST_F(HostResolverTest, ANameThatNoLongerExistsStopsBeingServed) {
  auto resolver = make();
  lookup->answer("relay.example", "192.0.2.10");
  ASSERT_FALSE(resolve(*resolver, "relay.example", 5s).error);
  lookup->fail("relay.example", asio::error::host_not_found);
  const ResolvedHost gone =
      resolve_until(*resolver, "relay.example", [](const ResolvedHost& answer) { return answer.error.failed(); });
  EXPECT_EQ(gone.error, asio::error::host_not_found);
  EXPECT_TRUE(gone.endpoints.empty());
}

TEST_F(HostResolverTest, AStuckLookupIsGivenUpAndAskedAgain) {
  auto resolver = make(4, 100ms);
  lookup->answer("relay.example", "192.0.2.10");
  lookup->hang_once("relay.example");
  EXPECT_EQ(resolve(*resolver, "relay.example", 150ms).error, errc::dns_timeout);
  const ResolvedHost answered = resolve(*resolver, "relay.example", 5s);
  ASSERT_FALSE(answered.error) << answered.reason;
  EXPECT_EQ(answered.endpoints.at(0).address().to_string(), "192.0.2.10");
  EXPECT_EQ(resolver->lookups_started(), 2u);
}

TEST_F(HostResolverTest, AnAbandonedCallerStopsWaiting) {
  auto resolver = make();
  lookup->hang("hung.example");
  const auto started = Clock::now();
  const ResolvedHost answer = resolve_all(*resolver, {"hung.example"}, 60s, 0ms, [&] {
    return Clock::now() - started > 150ms;  // the pool shutting down, as a channel's abort() says
  }).front();
  EXPECT_EQ(answer.error, asio::error::operation_aborted);
  EXPECT_LT(Clock::now() - started, 5s);
}

TEST_F(HostResolverTest, HungLookupsHoldAtMostMaxThreads) {
  auto resolver = make(2);
  for (const char* host : {"a.example", "b.example", "c.example"}) lookup->hang(host);
  const auto answers = resolve_all(*resolver, {"a.example", "b.example", "c.example"}, 300ms);
  for (const ResolvedHost& answer : answers) EXPECT_EQ(answer.error, errc::dns_timeout);
  EXPECT_EQ(lookup->most_running(), 2) << "the third lookup waited for a thread";
  // Once one returns, its thread takes the third.
  lookup->answer("c.example", "192.0.2.3");
  lookup->release("a.example");
  lookup->release("c.example");
  EXPECT_EQ(resolve(*resolver, "c.example", 10s).endpoints.at(0).address().to_string(), "192.0.2.3");
}

TEST(HostResolverSystemTest, GetaddrinfoResolvesLiteralsAndLocalhost) {
  const ResolvedHost literal = HostResolver::system_lookup("127.0.0.1", "8443");
  ASSERT_FALSE(literal.error) << literal.reason;
  EXPECT_EQ(literal.endpoints.at(0), asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8443));
  const ResolvedHost local = HostResolver::system_lookup("localhost", "443");
  ASSERT_FALSE(local.error) << local.reason;
  EXPECT_TRUE(local.endpoints.at(0).address().is_loopback());
  const ResolvedHost bad_port = HostResolver::system_lookup("127.0.0.1", "not-a-port");
  EXPECT_TRUE(bad_port.error);
  EXPECT_FALSE(bad_port.reason.empty());
}

}  // namespace
}  // namespace securechannel::detail
