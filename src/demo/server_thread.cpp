#include "demo/server_thread.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <utility>

namespace securechannel::demo {

namespace {
// If the server thread has not finished this long after stop was posted, force it.
constexpr std::chrono::seconds kStopTimeout{5};
}  // namespace

ServerThread::~ServerThread() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
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
  if (std::this_thread::get_id() == thread_.get_id()) {
    work();
    return;
  }
  std::promise<void> done;
  std::future<void> ran = done.get_future();
  boost::asio::post(io_, [&work, &done] {
    work();
    done.set_value();
  });
  ran.wait();
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
