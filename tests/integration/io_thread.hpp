// An io_context running on its own thread (or threads) for the length of a test, so that tests
// can block on futures while the pool works.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <thread>
#include <vector>

namespace securechannel::testing {

class IoThread {
 public:
  explicit IoThread(int threads = 1) : io_(threads), work_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThread() {
    work_.reset();
    io_.stop();
    for (std::thread& thread : threads_) thread.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& io() { return io_; }

  // Returns once a no-op posted now has run: on a one-thread IoThread, every handler running or
  // queued before it has returned. A fixture whose other io_context receives work from this
  // thread (a pool's thread completing on a listener's strands) calls it before that context
  // goes. False when the no-op did not run within `limit`.
  bool finish_queued_handlers(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::promise<void> ran;
    boost::asio::post(io_, [&ran] { ran.set_value(); });
    return ran.get_future().wait_for(limit) == std::future_status::ready;
  }
  boost::asio::io_context::executor_type executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Polls `condition` until it holds or `limit` passes: waits for an event, never asserts a time.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

}  // namespace securechannel::testing
