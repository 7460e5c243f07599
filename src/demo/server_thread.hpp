// The thread a local server runs on: one io_context and one thread, so that a test or the demo
// can drive the server from any thread. Shared by the demo's TLS echo upstream and the tests'
// WebSocket echo server.
//
//   ServerThread thread_;                          // declared before the acceptor that uses io()
//   tcp::acceptor acceptor_{thread_.io()};
//   ... listen, start the first accept ...
//   thread_.start("TlsEchoServer 127.0.0.1:4433");
//   thread_.stop([this] { acceptor_.close(); close every connection; });   // in the destructor
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <future>
#include <string>
#include <thread>

namespace securechannel::demo {

class ServerThread {
 public:
  ServerThread() = default;
  ~ServerThread();  // stop() must have run: a thread still running aborts the process

  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  boost::asio::io_context& io() { return io_; }

  // Runs io() on a new thread until it runs out of work. A handler that throws is logged under
  // `name` and the loop goes on: a bug in one connection's handler must not end the process.
  void start(std::string name);

  // Runs `work` on the server thread and returns once it has run; what it throws is thrown
  // here as std::runtime_error. On the server thread itself, or when no thread runs, it runs at
  // once (waiting would never end).
  void run_and_wait(const std::function<void()>& work);

  // Posts `close_everything`, which must close the acceptor and every socket and timer so that
  // run() returns by itself, and joins the thread. If it has not returned after 5 s, io() is
  // stopped: the guard against a bug that would otherwise hang the caller.
  void stop(std::function<void()> close_everything);

 private:
  boost::asio::io_context io_{1};
  std::string name_;
  std::future<void> finished_;
  std::thread thread_;
};

}  // namespace securechannel::demo
