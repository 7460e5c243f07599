// The README's library example, with the endpoint and CA from the command line: one PING over a
// pooled, verified TLS connection to `openssl s_server -rev` (which answers each line reversed).
//   consumer 127.0.0.1:4433 ca.pem      -> prints "GNIP", exit 0
#include <securechannel/securechannel.hpp>

#include <boost/asio.hpp>

#include <iostream>
#include <string>

namespace asio = boost::asio;

asio::awaitable<void> relay(std::shared_ptr<securechannel::SecureChannelPool> pool, std::string& answer) {
  securechannel::Lease lease = co_await pool->async_acquire(asio::use_awaitable);
  co_await securechannel::async_write_all(lease, asio::buffer("PING\n", 5), asio::use_awaitable);
  char reply[5];
  co_await securechannel::async_read_exact(lease, asio::buffer(reply), asio::use_awaitable);
  answer.assign(reply, 4);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer host:port ca.pem\n";
    return 2;
  }
  asio::io_context io;
  auto pool = securechannel::SecureChannelPool::builder(argv[1])
                  .with_max_connections(4)
                  .with_system_trust_store(false)
                  .with_ca_file(argv[2])
                  .build(io.get_executor());
  std::string answer;
  std::string failure;
  asio::co_spawn(io, relay(pool, answer), [&](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& exception) {
        failure = exception.what();
      }
    }
    pool->async_shutdown(std::chrono::milliseconds(0), [](boost::system::error_code) {});
  });
  io.run_for(std::chrono::seconds(20));
  if (!failure.empty() || answer.empty()) {
    std::cerr << "consumer: " << (failure.empty() ? "no answer" : failure) << "\n";
    return 1;
  }
  std::cout << answer << "\n";
  return 0;
}
