// SPKI pinning against our echo server: a matching pin (primary or backup, leaf or CA) lets the
// connection through, a mismatch fails with certificate_pin_mismatch before any byte is sent,
// and resumed connections keep the rule (only pinned connections' tickets are reused).
#include "demo/certificate_authority.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/spki_pin.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// A pin that matches nothing here: the digest of 32 zero bytes' worth of base64.
const std::string unrelated_pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

class PublicKeyPinsTest : public ::testing::Test {
 protected:
  PoolBuilder builder() { return upstream.builder_for(upstream.server.endpoint()); }

  testing::EchoUpstream upstream;
  testing::IoThread io;
};

TEST_F(PublicKeyPinsTest, TheLeafKeyPinLetsTheConnectionThrough) {
  auto pool = builder().with_pin(testing::spki_pin_of(upstream.leaf.certificate_file)).build(io.executor());
  Lease lease = testing::acquire(*pool);
  EXPECT_FALSE(testing::echo_error(lease, "pinned"));
}

TEST_F(PublicKeyPinsTest, ABackupPinOrTheCaKeyAlsoMatches) {
  auto backup = builder().with_pin(unrelated_pin).with_pin(testing::spki_pin_of(upstream.leaf.certificate_file))
                    .build(io.executor());
  EXPECT_FALSE(testing::acquire_error(*backup));
  auto ca = builder().with_pin(testing::spki_pin_of(upstream.authority.ca_certificate_file())).build(io.executor());
  EXPECT_FALSE(testing::acquire_error(*ca));
}

TEST_F(PublicKeyPinsTest, AMismatchFailsBeforeAnyByteIsSent) {
  auto pool = builder().with_pin(unrelated_pin).build(io.executor());
  EXPECT_EQ(testing::acquire_error(*pool), errc::certificate_pin_mismatch);
  const ConnectFailure failure = pool->last_connect_failure();
  EXPECT_NE(failure.tls.reason.find("matches the 1 configured pin"), std::string::npos) << failure.describe();
  EXPECT_NE(failure.tls.reason.find(testing::spki_pin_of(upstream.leaf.certificate_file)), std::string::npos)
      << "the server's actual key is named, to help the operator: " << failure.describe();
  EXPECT_EQ(upstream.server.bytes_received(), 0u);
  EXPECT_EQ(pool->stats().errors_by_kind.at("certificate_pin_mismatch"), 1u);
}

TEST_F(PublicKeyPinsTest, ResumedConnectionsStayPinned) {
  auto pool = builder().with_pin(testing::spki_pin_of(upstream.leaf.certificate_file)).build(io.executor());
  Lease first = testing::acquire(*pool);
  ASSERT_FALSE(testing::echo_error(first, "takes the tickets in"));
  Lease second = testing::acquire(*pool);
  EXPECT_TRUE(second.channel().resumed_session()) << "tickets of a pinned connection are reused";
  EXPECT_FALSE(testing::echo_error(second, "resumed and pinned"));
}

TEST_F(PublicKeyPinsTest, TheBackupPinCarriesThePoolThroughAKeyRotation) {
  // The operator pins today's key and tomorrow's; the upstream then switches to tomorrow's.
  const demo::IssuedCertificate next = upstream.authority.issue("next-key");
  // Without resumption, so that the connection after the switch shows its certificate.
  auto pool = builder()
                  .with_pin(testing::spki_pin_of(upstream.leaf.certificate_file))
                  .with_pin(testing::spki_pin_of(next.certificate_file))
                  .with_session_resumption(false)
                  .build(io.executor());
  Lease today = testing::acquire(*pool);
  EXPECT_FALSE(testing::echo_error(today, "primary pin"));
  upstream.server.replace_certificate(next.certificate_file, next.key_file);
  Lease tomorrow = testing::acquire(*pool);  // `today` is still leased: a new connection
  EXPECT_EQ(pool->stats().connections_created, 2u);
  EXPECT_FALSE(testing::echo_error(tomorrow, "backup pin"));
  // The control: the backup pin was what let it through.
  auto primary_only = builder().with_pin(testing::spki_pin_of(upstream.leaf.certificate_file)).build(io.executor());
  EXPECT_EQ(testing::acquire_error(*primary_only), errc::certificate_pin_mismatch);
}

TEST_F(PublicKeyPinsTest, AMalformedPinIsAConfigurationError) {
  std::string error;
  EXPECT_EQ(builder().with_pin("sha256//not-base64").try_build(io.executor(), error), nullptr);
  EXPECT_EQ(error, "tls.pins[0]: 'sha256//not-base64' is not sha256//<base64 of 32 bytes> (curl --pinnedpubkey format)");
}

}  // namespace
}  // namespace securechannel
