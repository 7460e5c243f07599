#include "c_api/c_api_handles.hpp"

#include <algorithm>

namespace securechannel::c_api {
namespace {

// Set on every I/O thread of every pool: a blocking call made there (sc_request_sync,
// sc_pool_shutdown) would hold up a thread that requests need, of its own pool or another's.
thread_local bool library_thread = false;

}  // namespace

IoRuntime::IoRuntime(unsigned threads)
    : io_(static_cast<int>(std::max(threads, 1u))), work_(boost::asio::make_work_guard(io_)) {
  const unsigned count = std::max(threads, 1u);
  threads_.reserve(count);
  try {
    for (unsigned i = 0; i < count; ++i) {
      threads_.emplace_back([this] {
        library_thread = true;
        io_.run();
      });
    }
  } catch (...) {
    // A thread could not start: the ones that did must be joined before the error goes on.
    work_.reset();
    io_.stop();
    for (std::thread& thread : threads_) thread.join();
    throw;
  }
}

IoRuntime::~IoRuntime() {
  // Handlers still queued (a pool's shutdown, callbacks of failed requests) run before the
  // threads return: run() ends when the queue is empty and no work is counted.
  work_.reset();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

bool IoRuntime::runs_this_thread() const noexcept {
  return std::any_of(threads_.begin(), threads_.end(),
                     [](const std::thread& thread) { return thread.get_id() == std::this_thread::get_id(); });
}

bool IoRuntime::on_library_thread() noexcept { return library_thread; }

void IoRuntime::release(std::shared_ptr<IoRuntime>&& runtime) {
  if (!runtime) return;
  if (!runtime->runs_this_thread()) {
    runtime.reset();  // joins here when it was the last reference
    return;
  }
  // On one of its own threads (freed from a callback): joining here would wait for itself, so a
  // thread of its own takes the last reference.
  try {
    std::thread([last = std::move(runtime)]() mutable { last.reset(); }).detach();
  } catch (...) {
    // No thread to hand it to: keep the runtime rather than join a thread from itself. Its
    // threads exit once idle; what is left of it is reclaimed with the process.
    new std::shared_ptr<IoRuntime>(std::move(runtime));
  }
}

}  // namespace securechannel::c_api
