// Cancelling a request through its handler's cancellation slot (HttpClient::async_request): the
// handler gets operation_aborted at once, HTTP/1.1 gives up the connection, HTTP/2 resets only
// the stream. nginx's /slow sends a generated file at 1 KiB/s, so a download runs for a minute.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

class HttpClientCancellationTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    testing::NginxHttpTest::SetUp();
    if (IsSkipped()) return;
    options.generated_file_bytes = 64 * 1024;
    start();
    pool = builder({GetParam()}).with_max_connections(1).build(io.executor());
    client = std::make_unique<HttpClient>(pool);
  }

  bool http2() const { return std::string(GetParam()) == "h2"; }

  // Sends `target` with `signal`'s slot bound to the handler; the future is the outcome.
  std::future<testing::HttpOutcome> send_cancellable(std::string target, asio::cancellation_signal& signal) {
    auto promise = std::make_shared<std::promise<testing::HttpOutcome>>();
    auto outcome = promise->get_future();
    client->async_request(request(http::verb::get, std::move(target)), {},
                          asio::bind_cancellation_slot(signal.slot(), [promise, this](boost::system::error_code error,
                                                                                      HttpResponse response) {
                            ++handler_calls;
                            promise->set_value({error, std::move(response)});
                          }));
    return outcome;
  }

  std::uint64_t bytes_received() const {
    std::uint64_t bytes = 0;
    for (const ConnectionSnapshot& connection : pool->connection_snapshots()) bytes += connection.bytes_received;
    return bytes;
  }

  void wait_until_the_download_has_begun() {
    ASSERT_TRUE(testing::eventually([&] { return bytes_received() >= 2048; }, 20s)) << "the response never began";
  }

  std::shared_ptr<SecureChannelPool> pool;
  std::unique_ptr<HttpClient> client;
  std::atomic<int> handler_calls{0};
};

TEST_P(HttpClientCancellationTest, ACancelledDownloadEndsAtOnceAndThePoolServesOn) {
  asio::cancellation_signal signal;
  auto download = send_cancellable("/slow", signal);
  wait_until_the_download_has_begun();
  ASSERT_EQ(download.wait_for(0s), std::future_status::timeout) << "/slow answered within the test's window";

  signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(download.wait_for(10s), std::future_status::ready) << "the cancelled download went on";
  EXPECT_EQ(download.get().error, asio::error::operation_aborted);

  const auto after = send(*client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(after.error) << after.error.message();
  EXPECT_EQ(after.response.result_int(), 200);
  if (http2()) {
    // Only the stream was reset: the next stream went on the same connection.
    EXPECT_EQ(pool->stats().connections_created, 1u);
  } else {
    // The exchange's connection was cut mid-response: it cannot carry another request.
    EXPECT_EQ(pool->stats().connections_created, 2u);
  }
  EXPECT_EQ(client->stats().requests_in_flight, 0u);
  signal.emit(asio::cancellation_type::terminal);  // after completion: nothing to do
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(handler_calls.load(), 1);
}

// HTTP/2 only: an HTTP/1.1 exchange is cancelled by closing its connection.
class HttpClientStreamCancellationTest : public HttpClientCancellationTest {};

TEST_P(HttpClientStreamCancellationTest, AResetStreamStopsTheServerSendingItAndOthersCarryOn) {
  asio::cancellation_signal cancelled_signal;
  asio::cancellation_signal kept_signal;
  auto cancelled = send_cancellable("/slow", cancelled_signal);
  auto kept = send_cancellable("/slow", kept_signal);
  wait_until_the_download_has_begun();
  cancelled_signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(cancelled.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(cancelled.get().error, asio::error::operation_aborted);

  // Both downloads came at 1 KiB/s each; with the reset stream gone (RST_STREAM CANCEL), only
  // the kept one's share still arrives. Without the reset, twice as much would.
  std::this_thread::sleep_for(1s);  // what was already on its way has arrived
  const std::uint64_t before = bytes_received();
  std::this_thread::sleep_for(4s);
  const std::uint64_t during = bytes_received() - before;
  EXPECT_LT(during, 6u * 1024) << "the reset stream's data kept coming";
  EXPECT_GT(during, 2u * 1024) << "the other stream stopped too";
  EXPECT_EQ(kept.wait_for(0s), std::future_status::timeout) << "the other download ended";
  kept_signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(kept.wait_for(10s), std::future_status::ready);
}

TEST_P(HttpClientCancellationTest, ARequestWaitingForAConnectionLeavesTheQueue) {
  asio::cancellation_signal first_signal;
  asio::cancellation_signal waiting_signal;
  auto first = send_cancellable("/slow", first_signal);
  wait_until_the_download_has_begun();
  // HTTP/1.1: the only connection is taken, so this one waits for it; HTTP/2: a second stream.
  auto waiting = send_cancellable("/slow", waiting_signal);
  if (!http2()) {
    ASSERT_TRUE(testing::eventually([&] { return pool->stats().pending_acquires == 1; }));
  }
  waiting_signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(waiting.get().error, asio::error::operation_aborted);
  if (!http2()) {
    // Out of the pool's line too, not left to be handed the connection it no longer wants. (A
    // waiter left behind would also hold the client, and the client the pool, past the test.)
    EXPECT_TRUE(testing::eventually([&] { return pool->stats().pending_acquires == 0; }));
    EXPECT_EQ(pool->stats().acquires_cancelled, 1u);
  }
  EXPECT_EQ(first.wait_for(0s), std::future_status::timeout) << "the first download was ended with it";
  first_signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
}

TEST_P(HttpClientCancellationTest, ATotalCancellationIsNotPromised) {
  // Total cancellation means "as if never started", which a request that may have reached the
  // server cannot be: it is ignored, and the download goes on until a terminal one.
  asio::cancellation_signal signal;
  auto download = send_cancellable("/slow", signal);
  wait_until_the_download_has_begun();
  signal.emit(asio::cancellation_type::total);
  EXPECT_EQ(download.wait_for(500ms), std::future_status::timeout) << "a total cancellation ended the download";
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(download.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(download.get().error, asio::error::operation_aborted);
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientCancellationTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);
INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientStreamCancellationTest, ::testing::Values("h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel
