#include "securechannel/monitoring_tls.hpp"

#include "securechannel/secure_buffer.hpp"
#include "tls/peer_certificate.hpp"
#include "tls/private_key_pem.hpp"

#include <boost/asio/ssl/context.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>


namespace securechannel {

namespace ssl = boost::asio::ssl;

namespace {

constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Only http/1.1 is served: a client offering h2 and http/1.1 gets http/1.1, one offering only
// h2 gets no ALPN and may give up, which is clearer than speaking HTTP/1.1 to an h2 client.
int select_http11(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                  unsigned int offered_length, void* /*unused*/) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_length, alpn_http11, sizeof alpn_http11, offered, offered_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// "CN=monitor.example, expires 2027-12-04"
std::string describe(const X509* certificate) {
  const std::string subject = detail::name_text(X509_get_subject_name(certificate));
  const auto not_after = detail::certificate_not_after(certificate);
  if (!not_after) return subject;
  return fmt::format("{}, expires {:%Y-%m-%d}", subject, fmt::gmtime(std::chrono::system_clock::to_time_t(*not_after)));
}

}  // namespace

MonitoringTls::MonitoringTls(PrivateTag) : context_(std::make_unique<ssl::context>(ssl::context::tls_server)) {}

MonitoringTls::~MonitoringTls() = default;

std::shared_ptr<MonitoringTls> MonitoringTls::load(const std::string& certificate_file, const std::string& key_file,
                                                   std::optional<ConfigError>& error) {
  error.reset();
  if (certificate_file.empty() || key_file.empty()) {
    error.emplace(certificate_file.empty() ? "certificate_file" : "key_file", "required for TLS");
    return nullptr;
  }
  auto tls = std::make_shared<MonitoringTls>(PrivateTag{});
  SSL_CTX* context = tls->context_->native_handle();
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(context, select_http11, nullptr);

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(context, certificate_file.c_str()) != 1) {
    error.emplace("certificate_file", "cannot load '" + certificate_file + "': " + detail::openssl_reason());
    return nullptr;
  }
  detail::PrivateKey key;
  {
    std::string read_error;
    const SecureBuffer key_bytes = SecureBuffer::from_file(key_file, read_error);
    if (!read_error.empty()) {
      error.emplace("key_file", read_error);
      return nullptr;
    }
    static const SecureBuffer no_passphrase;
    key = detail::parse_private_key(key_bytes, no_passphrase,
                                    {.key_field = "key_file", .passphrase_field = "the monitoring server takes unencrypted keys only", .path = key_file},
                                    error);
    if (!key) return nullptr;
  }  // the key file's bytes are wiped here
  if (SSL_CTX_use_PrivateKey(context, key.get()) != 1 || SSL_CTX_check_private_key(context) != 1) {
    error.emplace("key_file", "'" + key_file + "' does not match the certificate in '" + certificate_file +
                                  "': " + detail::openssl_reason());
    return nullptr;
  }
  tls->summary_ = describe(SSL_CTX_get0_certificate(context));
  return tls;
}

}  // namespace securechannel
