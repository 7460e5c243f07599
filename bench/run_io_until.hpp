// Drives an io_context on the calling thread until a condition holds, for at most `limit`.
//
//   pool->warm_up();
//   if (!run_io_until(io, [&] { return pool->stats().idle_connections == n; }, std::chrono::seconds(30)))
//     throw std::runtime_error("warm-up did not finish");
//
// The benchmarks run the pool on the thread that measures it, so what they time is the pool and
// not a hand-off between threads, and every wait is bounded: a broken upstream ends a benchmark
// with an error instead of hanging CI.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <thread>

namespace securechannel::bench {

template <class Condition>
bool run_io_until(boost::asio::io_context& io, Condition&& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    if (io.run_one_for(std::chrono::milliseconds(10)) == 0 && io.stopped()) {
      // No work left at all: only another thread can make `done` true now, so do not spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return true;
}

}  // namespace securechannel::bench
