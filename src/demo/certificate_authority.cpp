#include "demo/certificate_authority.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace securechannel::demo {
namespace {

namespace fs = std::filesystem;

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* object) const { Free(object); }
};
using PrivateKey = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using BigNumber = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using Bio = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using Extension = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using GeneralName = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using Ia5String = std::unique_ptr<ASN1_IA5STRING, OpenSslDeleter<ASN1_IA5STRING_free>>;
using OctetString = std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;

constexpr auto kWorldReadableFile = fs::perms::owner_read | fs::perms::owner_write |
                                    fs::perms::group_read | fs::perms::others_read;
constexpr auto kWorldReadableDirectory = fs::perms::owner_all | fs::perms::group_read |
                                         fs::perms::group_exec | fs::perms::others_read |
                                         fs::perms::others_exec;

// Drains OpenSSL's thread-local error queue into the message, so a failure says *why*.
[[noreturn]] void throw_openssl_error(const std::string& what) {
  std::string message = "CertificateAuthority: " + what;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    message += ": ";
    message += text;
  }
  throw std::runtime_error(message);
}

void check(bool ok, const std::string& what) {
  if (!ok) throw_openssl_error(what);
}

fs::path make_temporary_directory() {
  const char* tmpdir = std::getenv("TMPDIR");
  const fs::path base = (tmpdir != nullptr && *tmpdir != '\0') ? fs::path(tmpdir) : fs::path("/tmp");
  std::string name_template = (base / "securechannel-ca-XXXXXX").string();
  if (::mkdtemp(name_template.data()) == nullptr) {
    throw std::runtime_error("CertificateAuthority: mkdtemp(" + name_template + "): " + std::strerror(errno));
  }
  // mkdtemp makes it 0700; nginx workers may run as another user and must reach the files.
  fs::permissions(name_template, kWorldReadableDirectory, fs::perm_options::replace);
  return name_template;
}

PrivateKey generate_p256_key() {
  PrivateKey key(EVP_EC_gen("P-256"));
  check(key != nullptr, "generating an EC P-256 key");
  return key;
}

PrivateKey generate_key(KeyKind kind) {
  switch (kind) {
    case KeyKind::ec_p256: return generate_p256_key();
    case KeyKind::rsa_2048: {
      PrivateKey key(EVP_RSA_gen(2048));
      check(key != nullptr, "generating an RSA-2048 key");
      return key;
    }
    case KeyKind::rsa_1024: {
      PrivateKey key(EVP_RSA_gen(1024));
      check(key != nullptr, "generating an RSA-1024 key");
      return key;
    }
  }
  throw std::invalid_argument("CertificateAuthority: unknown KeyKind");
}

const EVP_MD* signature_digest(SignatureDigest digest) {
  switch (digest) {
    case SignatureDigest::sha256: return EVP_sha256();
    case SignatureDigest::sha1: return EVP_sha1();
  }
  throw std::invalid_argument("CertificateAuthority: unknown SignatureDigest");
}

std::string certificate_pem(X509* certificate) {
  Bio memory(BIO_new(BIO_s_mem()));
  check(memory != nullptr && PEM_write_bio_X509(memory.get(), certificate) == 1, "encoding a certificate as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(memory.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// 159 random bits: positive, unique in practice, and within the 20 octets RFC 5280 allows.
void set_random_serial(X509* certificate) {
  BigNumber serial(BN_new());
  check(serial != nullptr && BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
        "generating a serial number");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)) != nullptr,
        "setting the serial number");
}

void set_validity(X509* certificate, std::chrono::seconds from, std::chrono::seconds until) {
  check(X509_gmtime_adj(X509_getm_notBefore(certificate), static_cast<long>(from.count())) != nullptr,
        "setting notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(certificate), static_cast<long>(until.count())) != nullptr,
        "setting notAfter");
}

void set_common_name(X509* certificate, const std::string& common_name) {
  X509_NAME* subject = X509_get_subject_name(certificate);
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                                   0) == 1,
        "setting common name '" + common_name + "'");
}

// `issuer` provides the authorityKeyIdentifier; `certificate` must already hold its public key
// for subjectKeyIdentifier=hash.
void add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  const Extension extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  check(extension != nullptr, std::string("making extension ") + OBJ_nid2sn(nid) + "=" + value);
  check(X509_add_ext(certificate, extension.get(), -1) == 1, std::string("adding ") + OBJ_nid2sn(nid));
}

GeneralName dns_name_entry(const std::string& dns_name) {
  Ia5String text(ASN1_IA5STRING_new());
  check(text != nullptr && ASN1_STRING_set(text.get(), dns_name.data(), static_cast<int>(dns_name.size())) == 1,
        "encoding DNS name '" + dns_name + "'");
  GeneralName entry(GENERAL_NAME_new());
  check(entry != nullptr, "allocating a subjectAltName entry");
  GENERAL_NAME_set0_value(entry.get(), GEN_DNS, text.release());
  return entry;
}

GeneralName ip_address_entry(const std::string& ip_address) {
  OctetString octets(a2i_IPADDRESS(ip_address.c_str()));  // accepts IPv4 and IPv6
  if (!octets) throw std::runtime_error("CertificateAuthority: not an IP address: '" + ip_address + "'");
  GeneralName entry(GENERAL_NAME_new());
  check(entry != nullptr, "allocating a subjectAltName entry");
  GENERAL_NAME_set0_value(entry.get(), GEN_IPADD, octets.release());
  return entry;
}

// Built from GENERAL_NAME objects rather than a "DNS:a,IP:b" config string, so that names and
// IPv6 addresses are taken literally (no splitting on ',' or ':').
void add_subject_alt_names(X509* certificate, const CertificateOptions& options) {
  if (options.dns_names.empty() && options.ip_addresses.empty()) return;
  GeneralNames names(sk_GENERAL_NAME_new_null());
  check(names != nullptr, "allocating subjectAltName");
  const auto append = [&](GeneralName entry) {
    check(sk_GENERAL_NAME_push(names.get(), entry.get()) > 0, "adding a subjectAltName entry");
    entry.release();  // owned by `names` now
  };
  for (const std::string& dns_name : options.dns_names) append(dns_name_entry(dns_name));
  for (const std::string& ip_address : options.ip_addresses) append(ip_address_entry(ip_address));
  check(X509_add1_ext_i2d(certificate, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "adding subjectAltName");
}

Certificate new_certificate(EVP_PKEY* subject_key, const std::string& common_name,
                            std::chrono::seconds valid_from, std::chrono::seconds valid_until) {
  Certificate certificate(X509_new());
  check(certificate != nullptr, "allocating a certificate");
  check(X509_set_version(certificate.get(), X509_VERSION_3) == 1, "setting version 3");
  set_random_serial(certificate.get());
  set_validity(certificate.get(), valid_from, valid_until);
  set_common_name(certificate.get(), common_name);
  check(X509_set_pubkey(certificate.get(), subject_key) == 1, "setting the public key");
  return certificate;
}

void write_file(const fs::path& path, const char* what, const auto& write) {
  Bio file(BIO_new_file(path.c_str(), "w"));
  check(file != nullptr, std::string("opening ") + path.string());
  check(write(file.get()) == 1, std::string("writing ") + what + " to " + path.string());
  file.reset();  // flush and close before changing the mode
  fs::permissions(path, kWorldReadableFile, fs::perm_options::replace);
}

void write_certificate(const fs::path& path, X509* certificate) {
  write_file(path, "certificate", [&](BIO* file) { return PEM_write_bio_X509(file, certificate); });
}

void write_text(const fs::path& path, const std::string& text) {
  write_file(path, "text", [&](BIO* file) {
    return BIO_write(file, text.data(), static_cast<int>(text.size())) == static_cast<int>(text.size()) ? 1 : 0;
  });
}

// PEM_write_bio_PrivateKey writes unencrypted PKCS#8 ("BEGIN PRIVATE KEY").
void write_private_key(const fs::path& path, EVP_PKEY* key) {
  write_file(path, "private key", [&](BIO* file) {
    return PEM_write_bio_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

void check_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    throw std::runtime_error("CertificateAuthority: '" + name + "' is not a plain file name");
  }
}

}  // namespace

struct CertificateAuthority::State {
  fs::path directory;
  PrivateKey key;
  Certificate certificate;
  // PEM of this CA's certificate and the intermediates above it, root excluded: what goes after
  // a leaf in its chain_file. Empty for a root.
  std::string chain_pem;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    std::error_code ignored;  // a destructor cannot report; a leftover temp dir is harmless
    if (!directory.empty()) fs::remove_all(directory, ignored);
  }
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<State> state) : state_(std::move(state)) {}
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

CertificateAuthority CertificateAuthority::create(std::string common_name) {
  ERR_clear_error();  // so that a failure reports our errors, not someone else's leftovers
  auto state = std::make_unique<State>();
  state->directory = make_temporary_directory();  // removed by ~State if anything below throws
  state->key = generate_p256_key();
  // Ten years back and forth: the CA itself should never be why a test fails.
  constexpr std::chrono::seconds kTenYears{10LL * 365 * 24 * 3600};
  state->certificate = new_certificate(state->key.get(), common_name, -kTenYears, kTenYears);
  X509* ca = state->certificate.get();
  check(X509_set_issuer_name(ca, X509_get_subject_name(ca)) == 1, "setting the issuer");
  add_extension(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca, ca, NID_subject_key_identifier, "hash");
  check(X509_sign(ca, state->key.get(), EVP_sha256()) > 0, "self-signing the CA certificate");
  write_certificate(state->directory / "ca.pem", ca);
  return CertificateAuthority(std::move(state));
}

const std::filesystem::path& CertificateAuthority::directory() const { return state_->directory; }

std::filesystem::path CertificateAuthority::ca_certificate_file() const { return state_->directory / "ca.pem"; }

std::filesystem::path CertificateAuthority::ca_key_file() const {
  const fs::path path = state_->directory / "ca.key";
  write_private_key(path, state_->key.get());
  return path;
}

IssuedCertificate CertificateAuthority::issue(const std::string& name, const CertificateOptions& options) {
  check_file_name(name);
  ERR_clear_error();
  const PrivateKey key = generate_key(options.key);
  Certificate leaf =
      new_certificate(key.get(), options.common_name, options.valid_from_offset, options.valid_until_offset);
  // A self-signed leaf is its own issuer; it carries no authorityKeyIdentifier.
  X509* issuer = options.self_signed ? leaf.get() : state_->certificate.get();
  EVP_PKEY* signing_key = options.self_signed ? key.get() : state_->key.get();
  check(X509_set_issuer_name(leaf.get(), X509_get_subject_name(issuer)) == 1, "setting the issuer");
  add_extension(leaf.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
  // RSA keys may also encipher: TLS 1.2's RSA key exchange (AES128-SHA) needs keyEncipherment.
  add_extension(leaf.get(), issuer, NID_key_usage,
                options.key == KeyKind::ec_p256 ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment");
  add_extension(leaf.get(), issuer, NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(leaf.get(), issuer, NID_subject_key_identifier, "hash");
  if (!options.self_signed) add_extension(leaf.get(), issuer, NID_authority_key_identifier, "keyid:always");
  add_subject_alt_names(leaf.get(), options);
  check(X509_sign(leaf.get(), signing_key, signature_digest(options.digest)) > 0, "signing '" + name + "'");

  IssuedCertificate issued{state_->directory / (name + ".pem"), state_->directory / (name + ".key"),
                           state_->directory / (name + ".chain.pem")};
  write_certificate(issued.certificate_file, leaf.get());
  write_private_key(issued.key_file, key.get());
  write_text(issued.chain_file, certificate_pem(leaf.get()) + (options.self_signed ? "" : state_->chain_pem));
  return issued;
}

CertificateAuthority CertificateAuthority::issue_intermediate(const std::string& common_name) {
  ERR_clear_error();
  auto state = std::make_unique<State>();
  state->directory = make_temporary_directory();
  state->key = generate_p256_key();
  // Inside the root's ten years, so that validity never decides a test about chains.
  constexpr std::chrono::seconds kFiveYears{5LL * 365 * 24 * 3600};
  state->certificate = new_certificate(state->key.get(), common_name, -kFiveYears, kFiveYears);
  X509* intermediate = state->certificate.get();
  X509* parent = state_->certificate.get();
  check(X509_set_issuer_name(intermediate, X509_get_subject_name(parent)) == 1, "setting the issuer");
  add_extension(intermediate, parent, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(intermediate, parent, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(intermediate, parent, NID_subject_key_identifier, "hash");
  add_extension(intermediate, parent, NID_authority_key_identifier, "keyid:always");
  check(X509_sign(intermediate, state_->key.get(), EVP_sha256()) > 0, "signing intermediate '" + common_name + "'");
  write_certificate(state->directory / "ca.pem", intermediate);
  state->chain_pem = certificate_pem(intermediate) + state_->chain_pem;
  return CertificateAuthority(std::move(state));
}

}  // namespace securechannel::demo
