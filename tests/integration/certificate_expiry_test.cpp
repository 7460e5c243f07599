// The upstream certificate's expiry, as a pool reports it: the gauge
// <ns>_upstream_cert_expiry_timestamp_seconds, upstream_certificate_not_after in the status JSON,
// and one warning per certificate once it is within certificate_expiry_warning.
#include "captured_log.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <sstream>

namespace securechannel {
namespace {

namespace sct = securechannel::testing;
using namespace std::chrono_literals;
using Days = std::chrono::duration<std::int64_t, std::ratio<86400>>;

// notAfter of a PEM certificate file, in Unix seconds, read independently of the library.
std::int64_t not_after_seconds(const std::filesystem::path& file) {
  std::unique_ptr<FILE, int (*)(FILE*)> stream(std::fopen(file.c_str(), "r"), std::fclose);
  if (!stream) throw std::runtime_error("cannot open " + file.string());
  std::unique_ptr<X509, void (*)(X509*)> certificate(PEM_read_X509(stream.get(), nullptr, nullptr, nullptr), X509_free);
  std::tm utc{};
  if (!certificate || ASN1_TIME_to_tm(X509_get0_notAfter(certificate.get()), &utc) != 1) {
    throw std::runtime_error("no notAfter in " + file.string());
  }
  return static_cast<std::int64_t>(timegm(&utc));
}

// RFC 3339 in UTC, written here rather than with the library's formatter, which is under test.
std::string rfc3339_of(std::int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  return std::string(text, std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc));
}

// The value of the first sample of `family` in Prometheus text, or nullopt when absent.
std::optional<double> sample_value(const std::string& metrics, const std::string& family) {
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family + "{", 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// An echo upstream whose certificate expires `lifetime` from now.
struct ExpiringUpstream {
  explicit ExpiringUpstream(std::chrono::seconds lifetime)
      : leaf(authority.issue("upstream", {.valid_until_offset = lifetime})),
        server({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file}) {}

  PoolBuilder builder() const {
    PoolBuilder builder(server.endpoint());
    builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return builder;
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf;
  demo::TlsEchoServer server;
};

class CertificateExpiryTest : public ::testing::Test {
 protected:
  sct::IoThread io;
};

TEST_F(CertificateExpiryTest, GaugeAndStatusCarryTheLeafNotAfterOnceAHandshakeShowedIt) {
  ExpiringUpstream upstream(std::chrono::duration_cast<std::chrono::seconds>(Days(30)));
  auto pool = upstream.builder().with_namespace("expiry").build(io.executor());
  MonitoredPools pools;
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  const std::string gauge = "expiry_upstream_cert_expiry_timestamp_seconds";

  // Before any handshake there is nothing to report, and nothing is made up.
  EXPECT_FALSE(sample_value(pools.handle({"GET", "/metrics"}).body, gauge).has_value());
  EXPECT_TRUE(nlohmann::json::parse(pools.handle({"GET", "/api/v1/secure-channel/status"}).body)
                  .at("upstream_certificate_not_after")
                  .is_null());

  Lease first = sct::acquire(*pool);
  const std::int64_t expected = not_after_seconds(upstream.leaf.certificate_file);
  const std::string metrics = pools.handle({"GET", "/metrics"}).body;
  ASSERT_TRUE(sample_value(metrics, gauge).has_value()) << metrics;
  EXPECT_EQ(static_cast<std::int64_t>(*sample_value(metrics, gauge)), expected);
  EXPECT_NE(metrics.find(gauge + "{endpoint=\"" + upstream.server.endpoint() + "\"}"), std::string::npos) << metrics;
  const auto status = nlohmann::json::parse(pools.handle({"GET", "/api/v1/secure-channel/status"}).body);
  EXPECT_EQ(status.at("upstream_certificate_not_after"), rfc3339_of(expected));

  // A resumed handshake shows no certificate; the value from the full one stays.
  ASSERT_FALSE(sct::echo_error(first, "tickets in"));
  Lease second = sct::acquire(*pool);
  ASSERT_TRUE(second.channel().resumed_session());
  EXPECT_EQ(static_cast<std::int64_t>(*sample_value(pools.handle({"GET", "/metrics"}).body, gauge)), expected);
}

TEST_F(CertificateExpiryTest, WarnsOncePerCertificateWithinTheThreshold) {
  ExpiringUpstream upstream(std::chrono::duration_cast<std::chrono::seconds>(Days(5)));
  sct::CapturedLog log;
  // No resumption: every connection below is a full handshake that shows the certificate again.
  auto pool = upstream.builder().with_session_resumption(false).build(io.executor());
  Lease first = sct::acquire(*pool);
  Lease second = sct::acquire(*pool);
  ASSERT_EQ(pool->stats().connections_created, 2u);
  const std::string logged = log.text();
  EXPECT_EQ(occurrences(logged, "securechannel: the certificate of " + upstream.server.endpoint() + " expires in 4 days"), 1u)
      << logged;
  EXPECT_NE(logged.find("within certificate_expiry_warning (14 days)"), std::string::npos) << logged;
  EXPECT_NE(logged.find("notAfter " + rfc3339_of(not_after_seconds(upstream.leaf.certificate_file))), std::string::npos)
      << logged;
}

TEST_F(CertificateExpiryTest, TheCleanupPassWarnsWhenTimeBringsTheCertificateWithinTheThreshold) {
  ExpiringUpstream upstream(std::chrono::duration_cast<std::chrono::seconds>(Days(30)));
  sct::CapturedLog log;
  auto clock = std::make_shared<ManualClock>();
  auto pool = upstream.builder().with_clock(clock).with_certificate_expiry_warning(Days(14)).build(io.executor());
  sct::acquire(*pool).release();
  pool->run_cleanup_once();
  EXPECT_EQ(log.text().find("certificate_expiry_warning"), std::string::npos) << "30 days left: " << log.text();
  clock->advance(Days(17));
  pool->run_cleanup_once();
  EXPECT_EQ(occurrences(log.text(), "expires in 12 days"), 1u) << log.text();
  pool->run_cleanup_once();
  EXPECT_EQ(occurrences(log.text(), "certificate_expiry_warning"), 1u) << "once per certificate: " << log.text();
}

TEST_F(CertificateExpiryTest, AZeroThresholdTurnsTheWarningOffButNotTheGauge) {
  ExpiringUpstream upstream(std::chrono::duration_cast<std::chrono::seconds>(Days(2)));
  sct::CapturedLog log;
  auto pool = upstream.builder().with_certificate_expiry_warning(0ms).build(io.executor());
  Lease lease = sct::acquire(*pool);
  EXPECT_EQ(log.text().find("certificate_expiry_warning"), std::string::npos) << log.text();
  ASSERT_TRUE(pool->stats().upstream_certificate_not_after.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(
                pool->stats().upstream_certificate_not_after->time_since_epoch()).count(),
            not_after_seconds(upstream.leaf.certificate_file));
}

}  // namespace
}  // namespace securechannel
