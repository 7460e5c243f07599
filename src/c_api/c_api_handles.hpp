// What the C ABI's opaque handles (securechannel.h) hold, and the I/O threads behind them.
#pragma once

#include "securechannel/http_client.hpp"
#include "securechannel/http_message.hpp"
#include "securechannel/pool_config.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace securechannel::c_api {

// The io_context and threads of one pool, shared by the pool handle and its clients' handles:
// the threads stop when the last of them is freed. Destroyed on one of its own threads (the
// last handle freed inside a callback), it hands the joining to a thread of its own.
class IoRuntime {
 public:
  explicit IoRuntime(unsigned threads);
  ~IoRuntime();
  IoRuntime(const IoRuntime&) = delete;
  IoRuntime& operator=(const IoRuntime&) = delete;

  boost::asio::io_context& io() noexcept { return io_; }
  bool runs_this_thread() const noexcept;
  // Whether the calling thread is an I/O thread of any pool made through the C ABI.
  static bool on_library_thread() noexcept;
  // Releases `runtime` so that its destructor does not run on one of its own threads.
  static void release(std::shared_ptr<IoRuntime>&& runtime);

 private:
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// Keeps a runtime alive for the length of one call, and releases it the way IoRuntime::release
// does: a callback may free the last handle on an I/O thread while the call that started the
// request is still posting to that runtime.
class RuntimeHold {
 public:
  explicit RuntimeHold(std::shared_ptr<IoRuntime> runtime) noexcept : runtime_(std::move(runtime)) {}
  ~RuntimeHold() { IoRuntime::release(std::move(runtime_)); }
  RuntimeHold(const RuntimeHold&) = delete;
  RuntimeHold& operator=(const RuntimeHold&) = delete;

 private:
  std::shared_ptr<IoRuntime> runtime_;
};

// What sc_call_cancel needs of a request, shared by its sc_call handle and its completion
// handler: either may go first.
struct CallState {
  std::mutex emit_mutex;  // a cancellation signal takes one emit at a time
  boost::asio::cancellation_signal signal;
  std::atomic<bool> cancelled{false};
  // The emit posts to the pool's I/O threads, and the cancelled callback may let another
  // thread free the last handle meanwhile: sc_call_cancel holds the runtime while it emits.
  std::weak_ptr<IoRuntime> runtime;
};

}  // namespace securechannel::c_api

struct sc_request_options {
  securechannel::Affinity affinity;
};

struct sc_pool_config {
  // The setters and sc_pool_new may run on different threads at once (securechannel.h).
  mutable std::mutex mutex;
  std::string endpoint;
  // key -> TOML value text as it will be written ("16", "\"5s\"", "[\"h2\"]"); std::map keeps
  // a key once (the last set wins) in a stable order.
  std::map<std::string, std::string> pool_keys;
  std::map<std::string, std::string> tls_keys;
  std::map<std::string, std::vector<std::string>> tls_lists;  // add_string, TOML strings each
  std::map<std::string, std::vector<std::string>> pool_lists;
  std::optional<securechannel::PoolConfig> from_file;  // load_file: fixed values
  unsigned io_threads = 1;
};

struct sc_pool {
  std::shared_ptr<securechannel::c_api::IoRuntime> runtime;
  std::shared_ptr<securechannel::SecureChannelPool> pool;
  // The clients made on it: shutting the pool down shuts them down too, so that a request
  // made afterwards fails at once instead of finding an HTTP/2 session still open.
  std::mutex clients_mutex;
  std::vector<std::weak_ptr<securechannel::HttpClient>> clients;
  void shut_down_clients();
};

struct sc_http_client {
  std::shared_ptr<securechannel::c_api::IoRuntime> runtime;
  std::shared_ptr<securechannel::HttpClient> client;
};

struct sc_call {
  std::shared_ptr<securechannel::c_api::CallState> state;
};

struct sc_response {
  int status = 0;
  int http_version = 0;  // major * 10 + minor
  securechannel::HttpExchangeInfo exchange;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
