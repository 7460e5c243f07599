// HTTP/2 sessions under the pool's rotation, against a real nginx. A session whose connection
// passes max_lifetime or was made with TLS material reload_tls() replaced drains (no new
// streams, those in flight finish, then GOAWAY and close), after its replacement is open when it
// is the only one taking streams, so that the client always has a session taking streams. One
// that ran no stream for idle_timeout drains without a replacement. A slow download (1 KiB/s)
// keeps a session busy while quick requests go on.
#include "demo/child_process.hpp"
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

using Outcome = testing::HttpOutcome;

class Http2RotationTest : public testing::NginxHttpTest {
 protected:
  void SetUp() override {
    NginxHttpTest::SetUp();
    if (IsSkipped()) return;
    options.generated_file_bytes = 4096;  // /slow: about 4 s at nginx's 1 KiB/s
    start();
  }

  // Sessions taking new streams, sampled every 2 ms until `stop`: the fewest seen once the
  // first session was up.
  static void sample_open_sessions(HttpClient& client, const std::atomic<bool>& stop, std::size_t& fewest) {
    bool seen = false;
    while (!stop.load()) {
      const HttpClientStats stats = client.stats();
      const auto open = static_cast<std::size_t>(std::count_if(
          stats.http2_connections.begin(), stats.http2_connections.end(), [](const auto& c) { return !c.draining; }));
      if (seen || open > 0) {
        fewest = seen ? std::min(fewest, open) : open;
        seen = true;
      }
      std::this_thread::sleep_for(2ms);
    }
  }
};

TEST_F(Http2RotationTest, SessionsRotateAtMaxLifetimeWithoutAFailedRequestOrAGap) {
  auto pool = builder({"h2"})
                  .with_max_connections(4)
                  .with_max_lifetime(1200ms)
                  .with_max_lifetime_jitter(0)
                  .with_cleanup_interval(100ms)
                  .build(io.executor());
  pool->run_cleanup_task();
  HttpClient client(pool);

  std::future<Outcome> slow = send(client, request(http::verb::get, "/slow"));
  std::atomic<bool> stop{false};
  std::size_t fewest_open = 0;
  std::thread sampler([&] { sample_open_sessions(client, stop, fewest_open); });
  std::set<std::uint64_t> connections;
  int quick = 0;
  int failures = 0;
  while (slow.wait_for(0s) != std::future_status::ready) {
    const Outcome outcome = send(client, request(http::verb::get, "/")).get();
    ++quick;
    if (outcome.error || outcome.response.result_int() != 200) {
      ++failures;
      ADD_FAILURE() << "quick request " << quick << ": " << outcome.error.message();
      continue;
    }
    connections.insert(outcome.response.exchange.connection_id);
  }
  stop = true;
  sampler.join();

  const Outcome download = slow.get();
  ASSERT_FALSE(download.error) << download.error.message();
  EXPECT_EQ(download.response.body().size(), 4096u) << "the draining session let its stream finish";
  EXPECT_EQ(failures, 0);
  EXPECT_GE(connections.size(), 2u) << quick << " quick requests over " << connections.size() << " connections";
  EXPECT_EQ(connections.count(download.response.exchange.connection_id), 1u)
      << "the download started on the first session, which served quick requests before it drained";
  EXPECT_GE(fewest_open, 1u) << "a moment with no session taking streams";
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().closed_max_lifetime >= 2; }))
      << "closed at max_lifetime: " << pool->stats().closed_max_lifetime;
  EXPECT_EQ(pool->stats().closed_broken, 0u) << "a drained session is recycled, not broken";
}

// reload_tls() with a CA that does not sign nginx's certificate: the busy session drains and its
// download finishes; the replacement, made with the new material, fails verification, and so
// does every request after. Trusting the right CA again brings the pool back.
TEST_F(Http2RotationTest, ReloadTlsDrainsSessionsAndNewOnesUseTheNewMaterial) {
  demo::TemporaryDirectory directory("securechannel-h2-reload");
  const std::filesystem::path trusted = directory.path() / "trusted.pem";
  const auto trust = [&](const demo::CertificateAuthority& ca) {
    std::ofstream(trusted, std::ios::trunc) << demo::read_text_file(ca.ca_certificate_file());
  };
  trust(authority);
  auto pool = PoolBuilder(nginx->endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(trusted.string())
                  .with_alpn({"h2"})
                  .with_session_resumption(false)
                  .build(io.executor());
  HttpClient client(pool);
  std::future<Outcome> slow = send(client, request(http::verb::get, "/slow"));
  const Outcome before = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(before.error) << before.error.message();

  const demo::CertificateAuthority stranger = demo::CertificateAuthority::create("another CA");
  trust(stranger);
  std::optional<ConfigError> refused = pool->reload_tls();
  ASSERT_FALSE(refused) << refused->what();
  ASSERT_TRUE(testing::eventually([&] {
    const HttpClientStats stats = client.stats();
    return !stats.http2_connections.empty() && stats.http2_connections.front().draining;
  })) << "the session made with the old material did not drain";
  const Outcome after = send(client, request(http::verb::get, "/")).get();
  EXPECT_EQ(after.error, make_error_code(errc::certificate_verify_failed)) << after.error.message();

  const Outcome download = slow.get();
  ASSERT_FALSE(download.error) << download.error.message();
  EXPECT_EQ(download.response.body().size(), 4096u);
  EXPECT_EQ(download.response.exchange.connection_id, before.response.exchange.connection_id);
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().closed_tls_reload == 1; }))
      << "closed for the reload: " << pool->stats().closed_tls_reload;

  trust(authority);
  refused = pool->reload_tls();
  ASSERT_FALSE(refused) << refused->what();
  Outcome again;
  ASSERT_TRUE(testing::eventually([&] {
    again = send(client, request(http::verb::get, "/")).get();
    return !again.error;
  })) << again.error.message();
  EXPECT_NE(again.response.exchange.connection_id, before.response.exchange.connection_id);
}

// The pool sees a session's streams (status) and closes a session that ran none for
// idle_timeout, as it closes an idle connection; never one whose stream is running. The next
// request opens a new session. The pool's clock is driven by hand; nginx's streams run in real
// time.
TEST_F(Http2RotationTest, ASessionWithoutStreamsForIdleTimeoutClosesAndABusyOneStays) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder({"h2"}).with_clock(clock).with_idle_timeout(30s).build(io.executor());
  HttpClient client(pool);

  std::future<Outcome> slow = send(client, request(http::verb::get, "/slow"));
  ASSERT_TRUE(testing::eventually([&] {
    const auto connections = pool->connection_snapshots();
    // nginx's SETTINGS may come after the stream's slot was taken (100 is assumed until then).
    return connections.size() == 1 && connections[0].streams_in_flight == 1 &&
           connections[0].max_concurrent_streams == 128;
  })) << "the pool never saw the download's stream under nginx's limit";
  const ConnectionSnapshot busy = pool->connection_snapshots().at(0);
  EXPECT_EQ(busy.state, "leased");
  EXPECT_EQ(busy.alpn, "h2");
  EXPECT_EQ(busy.max_concurrent_streams, 128u) << "nginx's http2_max_concurrent_streams";

  for (int look = 0; look < 3; ++look) {  // two minutes of pool time with the stream running
    clock->advance(40s);
    pool->run_cleanup_once();
  }
  const Outcome download = slow.get();
  ASSERT_FALSE(download.error) << download.error.message();
  EXPECT_EQ(download.response.body().size(), 4096u);
  EXPECT_EQ(pool->stats().closed_idle_timeout, 0u) << "a session closed under its stream";

  ASSERT_EQ(pool->connection_snapshots().at(0).streams_in_flight, 0u);
  pool->run_cleanup_once();  // the idle spell starts at the first look that finds it idle
  clock->advance(29s);
  pool->run_cleanup_once();
  EXPECT_EQ(pool->stats().closed_idle_timeout, 0u) << "closed before idle_timeout";
  clock->advance(1s);
  pool->run_cleanup_once();
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().closed_idle_timeout == 1; }))
      << "the idle session did not close: " << pool->stats().closed_idle_timeout;
  EXPECT_TRUE(testing::eventually([&] { return pool->stats().total_connections == 0; }));
  EXPECT_EQ(pool->stats().closed_broken, 0u) << "a drained session is recycled, not broken";

  const Outcome next = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.response.result_int(), 200);
  EXPECT_NE(next.response.exchange.connection_id, download.response.exchange.connection_id);
  EXPECT_EQ(next.response.exchange.protocol, HttpProtocol::http2);
}

}  // namespace
}  // namespace securechannel
