// The TLS policy seen from a server's side (docs/TLS.md, "Policy"): a TLS 1.2 server that asks
// to renegotiate is refused (SSL_OP_NO_RENEGOTIATION). The suite and version rules are in
// bad_certificate_test; the context's settings themselves in tests/unit/client_tls_policy_test.
#include "demo/certificate_authority.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/openssl_server.hpp"

#include <boost/asio/buffer.hpp>
#include <gtest/gtest.h>

#include <array>
#include <future>

namespace securechannel {
namespace {

namespace sct = securechannel::testing;
using namespace std::chrono_literals;

TEST(TlsPolicyTest, AServerRequestToRenegotiateEndsTheConnection) {
  if (!sct::OpenSslServer::available()) GTEST_SKIP() << "/usr/bin/openssl is not installed";
  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  const demo::IssuedCertificate leaf = authority.issue("tls12");
  sct::OpenSslServer server({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file,
                             .arguments = {"-tls1_2"}});  // TLS 1.3 has no renegotiation at all
  sct::IoThread io;
  auto pool = PoolBuilder(server.endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .with_min_tls_version(TlsVersion::tls1_2)
                  .build(io.executor());
  Lease lease = sct::acquire(*pool);
  ASSERT_FALSE(sct::operation_error([&](auto handler) { async_write_all(lease, boost::asio::buffer("before\n", 7), handler); }));
  ASSERT_TRUE(server.wait_for_output("before\n", 10s)) << server.diagnostics();

  // A read is pending when the HelloRequest arrives, as on a connection waiting for a response.
  std::array<char, 64> reply{};
  std::promise<std::pair<boost::system::error_code, std::size_t>> read;
  auto outcome = read.get_future();
  lease.async_read_some(boost::asio::buffer(reply), [&read](boost::system::error_code error, std::size_t bytes) {
    read.set_value({error, bytes});
  });
  server.type_line("r");
  ASSERT_TRUE(server.wait_for_output("SSL_do_handshake -> 1", 10s)) << server.diagnostics();
  // What a client that renegotiated would receive next (the control: without the option,
  // OpenSSL renegotiates and reads this line).
  server.type_line("after-renegotiation");
  if (outcome.wait_for(10s) != std::future_status::ready) {
    lease.abort();  // bounded: wake the read before `reply` goes away
    outcome.wait();
    FAIL() << "the read neither failed nor completed\n" << server.diagnostics();
  }
  const auto [error, bytes] = outcome.get();
  EXPECT_EQ(error, make_error_code(errc::protocol_error)) << error.message() << " " << lease.channel().tls_failure().describe();
  EXPECT_EQ(std::string(reply.data(), bytes).find("after-renegotiation"), std::string::npos);
  EXPECT_NE(server.diagnostics().find("no renegotiation"), std::string::npos)
      << "s_server saw our no_renegotiation alert:\n" << server.diagnostics();
}

}  // namespace
}  // namespace securechannel
