#include "tls/ocsp_staple.hpp"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace securechannel::detail {

namespace {

// Clock skew allowed around thisUpdate and nextUpdate, in seconds (as OpenSSL's apps use).
constexpr long ocsp_clock_skew_seconds = 300;

struct ResponseDeleter {
  void operator()(OCSP_RESPONSE* response) const { OCSP_RESPONSE_free(response); }
};
struct BasicDeleter {
  void operator()(OCSP_BASICRESP* basic) const { OCSP_BASICRESP_free(basic); }
};
struct CertIdDeleter {
  void operator()(OCSP_CERTID* id) const { OCSP_CERTID_free(id); }
};

int refuse(StapleRefusal refusal, const std::string& reason) {
  ERR_raise_data(ERR_LIB_USER, refusal, "%s", reason.c_str());
  return 0;  // libssl ends the handshake with bad_certificate_status_response
}

std::string time_text(const ASN1_GENERALIZEDTIME* time) {
  if (time == nullptr) return "an unknown time";
  std::unique_ptr<BIO, decltype(&BIO_free)> memory(BIO_new(BIO_s_mem()), BIO_free);
  if (!memory || ASN1_TIME_print(memory.get(), time) != 1) return "an unknown time";
  char* data = nullptr;
  const long length = BIO_get_mem_data(memory.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// OpenSSL's status callback, on the client: called once the server's certificate is verified.
int check_stapled_status(SSL* ssl, void* argument) {
  const OcspPolicy policy = *static_cast<const OcspPolicy*>(argument);
  const unsigned char* staple = nullptr;
  const long length = SSL_get_tlsext_status_ocsp_resp(ssl, &staple);
  if (staple == nullptr || length <= 0) {
    if (policy == OcspPolicy::require) {
      return refuse(staple_missing, "the server stapled no OCSP response, and tls.ocsp is \"require\"");
    }
    return 1;
  }
  std::unique_ptr<OCSP_RESPONSE, ResponseDeleter> response(d2i_OCSP_RESPONSE(nullptr, &staple, length));
  if (!response) return refuse(staple_unusable, "the stapled OCSP response does not parse");
  const int response_status = OCSP_response_status(response.get());
  if (response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return refuse(staple_unusable, std::string("the stapled OCSP response says ") +
                                       OCSP_response_status_str(response_status));
  }
  std::unique_ptr<OCSP_BASICRESP, BasicDeleter> basic(OCSP_response_get1_basic(response.get()));
  const STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
  if (!basic || chain == nullptr || sk_X509_num(chain) < 2) {
    return refuse(staple_unusable, "the stapled OCSP response cannot be checked against the verified chain");
  }
  X509* leaf = sk_X509_value(chain, 0);
  X509* issuer = sk_X509_value(chain, 1);
  // Signed by the issuer or by a responder certificate it issued for OCSP signing; the chain
  // lets OpenSSL find the issuer, the trust store anchors it.
  X509_STORE* store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
  if (OCSP_basic_verify(basic.get(), const_cast<STACK_OF(X509)*>(chain), store, 0) <= 0) {
    ERR_clear_error();
    return refuse(staple_unusable, "the stapled OCSP response is not signed by the certificate's issuer");
  }
  std::unique_ptr<OCSP_CERTID, CertIdDeleter> id(OCSP_cert_to_id(nullptr, leaf, issuer));
  int status = V_OCSP_CERTSTATUS_UNKNOWN;
  int reason = OCSP_REVOKED_STATUS_NOSTATUS;
  ASN1_GENERALIZEDTIME* revoked_at = nullptr;
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  if (!id || OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_update,
                                   &next_update) != 1) {
    return refuse(staple_unusable, "the stapled OCSP response is about another certificate");
  }
  if (OCSP_check_validity(this_update, next_update, ocsp_clock_skew_seconds, -1) != 1) {
    ERR_clear_error();
    return refuse(staple_unusable, "the stapled OCSP response is out of date (this update " + time_text(this_update) +
                                       ", next update " + time_text(next_update) + ")");
  }
  if (status == V_OCSP_CERTSTATUS_REVOKED) {
    const std::string why = reason == OCSP_REVOKED_STATUS_NOSTATUS ? "" : std::string(" (") + OCSP_crl_reason_str(reason) + ")";
    return refuse(staple_revoked, "the server's certificate is revoked" + why + " since " + time_text(revoked_at) +
                                      ", says its stapled OCSP response");
  }
  if (status != V_OCSP_CERTSTATUS_GOOD) {
    return refuse(staple_unusable, "the stapled OCSP response gives the certificate's status as unknown");
  }
  return 1;
}

}  // namespace

void require_stapled_status(SSL_CTX* context, const OcspPolicy* policy) {
  if (*policy == OcspPolicy::off) return;
  SSL_CTX_set_tlsext_status_type(context, TLSEXT_STATUSTYPE_ocsp);
  SSL_CTX_set_tlsext_status_cb(context, check_stapled_status);
  SSL_CTX_set_tlsext_status_arg(context, const_cast<OcspPolicy*>(policy));
}

std::optional<StapleRefusal> staple_refusal(unsigned long openssl_error) noexcept {
  if (ERR_GET_LIB(openssl_error) != ERR_LIB_USER) return std::nullopt;
  switch (ERR_GET_REASON(openssl_error)) {
    case staple_revoked: return staple_revoked;
    case staple_unusable: return staple_unusable;
    case staple_missing: return staple_missing;
    default: return std::nullopt;
  }
}

}  // namespace securechannel::detail
