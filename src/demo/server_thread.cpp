#include "demo/server_thread.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <utility>

namespace securechannel::demo {

namespace {
// If the server thread has not finished this long after stop was posted, force it.
constexpr std::chrono::seconds kStopTimeout{5};
}  // namespace

ServerThread::~ServerThread() {
  if (!thread_.joinable()) return;
  // The owner's members that the handlers use (acceptor, sockets, counters) are destroyed by
  // now: letting the thread run on, or stopping it mid-handler, would touch freed memory.
  spdlog::critical("{}: destroyed while its thread runs; the owner must call stop() first", name_);
  std::abort();
}

void ServerThread::start(std::string name) {
  name_ = std::move(name);
  std::promise<void> finished;
  finished_ = finished.get_future();
  thread_ = std::thread([this, finished = std::move(finished)]() mutable {
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception& error) {
        spdlog::error("{}: handler threw: {}", name_, error.what());
      }
    }
    finished.set_value();
  });
}

void ServerThread::run_and_wait(const std::function<void()>& work) {
  // On the server thread itself, or with no thread running (before start(), after stop()),
  // nothing else runs handlers: run it here.
  if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
    work();
    return;
  }
  // What `work` threw travels back as text: a future holding an exception_ptr trips
  // ThreadSanitizer.
  std::promise<std::string> done;
  std::future<std::string> ran = done.get_future();
  boost::asio::post(io_, [&work, &done] {
    try {
      work();
      done.set_value("");
    } catch (const std::exception& error) {
      done.set_value(error.what());
    }
  });
  if (const std::string problem = ran.get(); !problem.empty()) {
    throw std::runtime_error(name_ + ": " + problem);
  }
}

void ServerThread::stop(std::function<void()> close_everything) {
  if (!thread_.joinable()) return;
  boost::asio::post(io_, std::move(close_everything));
  if (finished_.wait_for(kStopTimeout) == std::future_status::timeout) {
    spdlog::error("{}: server thread did not finish in {} s, stopping it", name_, kStopTimeout.count());
    io_.stop();
  }
  thread_.join();
}

}  // namespace securechannel::demo
