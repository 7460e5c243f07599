// Proves that the test fixtures are real before other tests rely on them: certificates verify
// (or fail to, for the right reason) with plain OpenSSL, the echo server speaks TLS and counts
// what it sees, nginx serves HTTPS, and none of it leaks file descriptors. The client here is
// raw OpenSSL on a blocking socket on purpose: it shares no code with securechannel.
#include "demo/certificate_authority.hpp"
#include "demo/loopback_port.hpp"
#include "demo/nginx_server.hpp"
#include "demo/tls_echo_server.hpp"
#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace sct = securechannel::testing;
namespace demo = securechannel::demo;
using namespace std::chrono_literals;

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* object) const { Free(object); }
};
using SslContext = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using Certificate = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using PrivateKey = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using Store = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using StoreContext = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;

// Polls `condition` until it holds or `timeout` passes: waits for the server's thread to
// catch up without guessing how long that takes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

Certificate load_certificate(const fs::path& path) {
  Bio file(BIO_new_file(path.c_str(), "r"));
  if (!file) throw std::runtime_error("cannot open " + path.string());
  return Certificate(PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr));
}

PrivateKey load_private_key(const fs::path& path) {
  Bio file(BIO_new_file(path.c_str(), "r"));
  if (!file) throw std::runtime_error("cannot open " + path.string());
  return PrivateKey(PEM_read_bio_PrivateKey(file.get(), nullptr, nullptr, nullptr));
}

std::string read_file(const fs::path& path) {
  std::string content;
  Bio file(BIO_new_file(path.c_str(), "r"));
  char chunk[4096];
  for (int n; file && (n = BIO_read(file.get(), chunk, sizeof(chunk))) > 0;) content.append(chunk, n);
  return content;
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int connect_to_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  // A broken server must fail the test, not hang it.
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

struct ClientOptions {
  std::string verify_host = "localhost";  // a name, or an IP literal checked against IP SANs
  std::string alpn{};                     // one protocol to offer, or none
};

// How a read loop ended: the bytes it got and OpenSSL's verdict on the end.
struct ReadEnding {
  std::string data{};
  int ssl_error = SSL_ERROR_NONE;  // SSL_ERROR_ZERO_RETURN = close_notify received
  int reason = 0;                  // ERR_GET_REASON of the queued error, e.g. unexpected EOF
};

class RawTlsClient {
 public:
  RawTlsClient(const fs::path& ca_file, std::uint16_t port, const ClientOptions& options = {})
      : socket_(connect_to_loopback(port)), context_(SSL_CTX_new(TLS_client_method())) {
    if (!context_ || SSL_CTX_load_verify_locations(context_.get(), ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("cannot load " + ca_file.string());
    }
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION);
    ssl_.reset(SSL_new(context_.get()));
    SSL_set_fd(ssl_.get(), socket_.get());
    in6_addr ignored;
    if (::inet_pton(AF_INET, options.verify_host.c_str(), &ignored) == 1 ||
        ::inet_pton(AF_INET6, options.verify_host.c_str(), &ignored) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), options.verify_host.c_str());
    } else {
      SSL_set1_host(ssl_.get(), options.verify_host.c_str());
      SSL_set_tlsext_host_name(ssl_.get(), options.verify_host.c_str());
    }
    if (!options.alpn.empty()) {
      std::string wire(1, static_cast<char>(options.alpn.size()));
      wire += options.alpn;
      SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned int>(wire.size()));
    }
  }

  bool handshake() {
    ERR_clear_error();
    return SSL_connect(ssl_.get()) == 1;
  }

  long verify_result() const { return SSL_get_verify_result(ssl_.get()); }

  std::string negotiated_alpn() const {
    const unsigned char* protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_.get(), &protocol, &length);
    return std::string(reinterpret_cast<const char*>(protocol), length);
  }

  void write_all(std::string_view data) {
    while (!data.empty()) {
      const int written = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
      if (written <= 0) throw std::runtime_error("SSL_write failed");
      data.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  std::string read_exactly(std::size_t size) {
    std::string data(size, '\0');
    std::size_t received = 0;
    while (received < size) {
      const int n = SSL_read(ssl_.get(), data.data() + received, static_cast<int>(size - received));
      if (n <= 0) throw std::runtime_error("connection ended after " + std::to_string(received) + " bytes");
      received += static_cast<std::size_t>(n);
    }
    return data;
  }

  ReadEnding read_until_end() {
    ReadEnding ending;
    char chunk[16 * 1024];
    ERR_clear_error();
    for (;;) {
      const int n = SSL_read(ssl_.get(), chunk, sizeof(chunk));
      if (n > 0) {
        ending.data.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      ending.ssl_error = SSL_get_error(ssl_.get(), n);
      ending.reason = ERR_GET_REASON(ERR_peek_error());
      return ending;
    }
  }

  std::string round_trip(std::string_view message) {
    write_all(message);
    return read_exactly(message.size());
  }

 private:
  Socket socket_;  // outlives ssl_, which uses but does not own it
  SslContext context_;
  Ssl ssl_;
};

// ---------------------------------------------------------------------------------------------
// CertificateAuthority

TEST(CertificateAuthority, IssuesLeafThatVerifiesForServerUse) {
  auto ca = demo::CertificateAuthority::create();
  const demo::IssuedCertificate issued = ca.issue("server");

  const Certificate ca_certificate = load_certificate(ca.ca_certificate_file());
  const Certificate leaf = load_certificate(issued.certificate_file);
  const PrivateKey key = load_private_key(issued.key_file);
  ASSERT_TRUE(ca_certificate && leaf && key);
  EXPECT_EQ(X509_check_ca(ca_certificate.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_check_private_key(leaf.get(), key.get()), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);

  const Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca_certificate.get());
  const StoreContext verification(X509_STORE_CTX_new());
  X509_STORE_CTX_init(verification.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(verification.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(verification.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(verification.get()));

  EXPECT_TRUE(read_file(issued.key_file).starts_with("-----BEGIN PRIVATE KEY-----"));  // PKCS#8
  const auto readable_by_all = fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
  EXPECT_EQ(fs::status(issued.key_file).permissions() & readable_by_all, readable_by_all);
  EXPECT_EQ(fs::status(ca.directory()).permissions() & fs::perms::others_exec, fs::perms::others_exec);
}

TEST(CertificateAuthority, TakesNamesAndIpv6AddressesFromOptions) {
  auto ca = demo::CertificateAuthority::create();
  const auto issued = ca.issue("custom", {.common_name = "upstream",
                                          .dns_names = {"upstream.test", "*.pool.test"},
                                          .ip_addresses = {"::1", "10.1.2.3"}});
  const Certificate leaf = load_certificate(issued.certificate_file);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(X509_check_host(leaf.get(), "upstream.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "a.pool.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "10.1.2.3", 0), 1);
  EXPECT_NE(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
}

TEST(CertificateAuthority, GivesEachCertificateItsOwnSerial) {
  auto ca = demo::CertificateAuthority::create();
  const Certificate first = load_certificate(ca.issue("first").certificate_file);
  const Certificate second = load_certificate(ca.issue("second").certificate_file);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(first.get()), X509_get0_serialNumber(second.get())), 0);
}

TEST(CertificateAuthority, RejectsInvalidInput) {
  auto ca = demo::CertificateAuthority::create();
  EXPECT_THROW(ca.issue("../escape"), std::runtime_error);
  EXPECT_THROW(ca.issue("bad-ip", {.ip_addresses = {"not-an-address"}}), std::runtime_error);
}

TEST(CertificateAuthority, RemovesItsDirectoryAndMovesOwnership) {
  fs::path directory;
  {
    auto original = demo::CertificateAuthority::create();
    directory = original.directory();
    original.issue("server");
    demo::CertificateAuthority moved = std::move(original);
    EXPECT_EQ(moved.directory(), directory);
    EXPECT_TRUE(fs::exists(moved.ca_certificate_file()));
  }
  EXPECT_FALSE(fs::exists(directory));
}

// ---------------------------------------------------------------------------------------------
// TlsEchoServer

class TlsEchoServerTest : public ::testing::Test {
 protected:
  demo::TlsEchoServerOptions options(const std::string& name = "server",
                                    const demo::CertificateOptions& certificate = {}) {
    const demo::IssuedCertificate issued = ca_.issue(name, certificate);
    return {.certificate_file = issued.certificate_file, .key_file = issued.key_file};
  }

  demo::CertificateAuthority ca_ = demo::CertificateAuthority::create();
};

TEST_F(TlsEchoServerTest, EchoesOverAVerifiedConnection) {
  demo::TlsEchoServer server(options());
  EXPECT_EQ(server.endpoint(), "127.0.0.1:" + std::to_string(server.port()));

  RawTlsClient client(ca_.ca_certificate_file(), server.port());
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(client.verify_result(), X509_V_OK);
  EXPECT_EQ(client.round_trip("hello, fixture"), "hello, fixture");
  const std::string large(200 * 1024, 'x');  // several TLS records and partial reads
  EXPECT_EQ(client.round_trip(large), large);

  EXPECT_EQ(server.accepted_connections(), 1u);
  EXPECT_EQ(server.completed_handshakes(), 1u);
  EXPECT_EQ(server.failed_handshakes(), 0u);
  EXPECT_EQ(server.bytes_received(), large.size() + 14);
}

TEST_F(TlsEchoServerTest, VerifiesByIpAddress) {
  demo::TlsEchoServer server(options());
  RawTlsClient client(ca_.ca_certificate_file(), server.port(), {.verify_host = "127.0.0.1"});
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(client.verify_result(), X509_V_OK);
}

TEST_F(TlsEchoServerTest, WrongHostNameFailsVerification) {
  demo::TlsEchoServer server(options());
  RawTlsClient client(ca_.ca_certificate_file(), server.port(), {.verify_host = "other.example"});
  EXPECT_FALSE(client.handshake());
  EXPECT_EQ(client.verify_result(), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_TRUE(eventually([&] { return server.failed_handshakes() == 1; }));
}

TEST_F(TlsEchoServerTest, ExpiredCertificateFailsVerification) {
  demo::TlsEchoServer server(options("expired", {.valid_from_offset = -48h, .valid_until_offset = -24h}));
  RawTlsClient client(ca_.ca_certificate_file(), server.port());
  EXPECT_FALSE(client.handshake());
  EXPECT_EQ(client.verify_result(), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_TRUE(eventually([&] { return server.failed_handshakes() == 1; }));
  EXPECT_EQ(server.completed_handshakes(), 0u);
}

TEST_F(TlsEchoServerTest, CountsConnections) {
  demo::TlsEchoServer server(options());
  {
    std::vector<std::unique_ptr<RawTlsClient>> clients;
    for (int i = 0; i < 3; ++i) {
      clients.push_back(std::make_unique<RawTlsClient>(ca_.ca_certificate_file(), server.port()));
      ASSERT_TRUE(clients.back()->handshake());
      EXPECT_EQ(clients.back()->round_trip("ping"), "ping");  // the server finished its handshake
    }
    EXPECT_EQ(server.accepted_connections(), 3u);
    EXPECT_EQ(server.completed_handshakes(), 3u);
    EXPECT_EQ(server.open_connections(), 3u);
  }
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
  EXPECT_EQ(server.max_open_connections(), 3u);
  EXPECT_EQ(server.accepted_connections(), 3u);
}

TEST_F(TlsEchoServerTest, CloseAllConnectionsEndsThemWithoutCloseNotify) {
  demo::TlsEchoServer server(options());
  RawTlsClient client(ca_.ca_certificate_file(), server.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_EQ(client.round_trip("before"), "before");

  server.close_all_connections();
  EXPECT_EQ(server.open_connections(), 0u);  // done when it returns
  const ReadEnding ending = client.read_until_end();
  EXPECT_EQ(ending.data, "");
  EXPECT_EQ(ending.ssl_error, SSL_ERROR_SSL);
  EXPECT_EQ(ending.reason, SSL_R_UNEXPECTED_EOF_WHILE_READING);

  RawTlsClient next(ca_.ca_certificate_file(), server.port());  // still accepting
  ASSERT_TRUE(next.handshake());
  EXPECT_EQ(next.round_trip("after"), "after");
  EXPECT_EQ(server.accepted_connections(), 2u);
}

TEST_F(TlsEchoServerTest, IdleConnectionIsClosedWithCloseNotify) {
  auto idle_options = options();
  idle_options.idle_close_after = 200ms;
  demo::TlsEchoServer server(idle_options);
  RawTlsClient client(ca_.ca_certificate_file(), server.port());
  ASSERT_TRUE(client.handshake());
  ASSERT_EQ(client.round_trip("ping"), "ping");

  const ReadEnding ending = client.read_until_end();  // blocks until the server gives up on us
  EXPECT_EQ(ending.ssl_error, SSL_ERROR_ZERO_RETURN);
  EXPECT_TRUE(eventually([&] { return server.open_connections() == 0; }));
}

TEST_F(TlsEchoServerTest, NegotiatesAlpn) {
  auto alpn_options = options();
  alpn_options.alpn = {"h2", "http/1.1"};
  demo::TlsEchoServer server(alpn_options);

  RawTlsClient http1(ca_.ca_certificate_file(), server.port(), {.alpn = "http/1.1"});
  ASSERT_TRUE(http1.handshake());
  EXPECT_EQ(http1.negotiated_alpn(), "http/1.1");

  RawTlsClient unknown(ca_.ca_certificate_file(), server.port(), {.alpn = "spdy/3"});
  EXPECT_FALSE(unknown.handshake());  // no_application_protocol alert
}

TEST_F(TlsEchoServerTest, StopsWithConnectionsInEveryState) {
  auto server = std::make_unique<demo::TlsEchoServer>(options());
  RawTlsClient established(ca_.ca_certificate_file(), server->port());
  ASSERT_TRUE(established.handshake());
  ASSERT_EQ(established.round_trip("ping"), "ping");
  const Socket handshake_pending(connect_to_loopback(server->port()));  // TCP only, never says hello
  ASSERT_TRUE(eventually([&] { return server->accepted_connections() == 2; }));

  const auto started = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_NE(established.read_until_end().ssl_error, SSL_ERROR_WANT_READ);  // ended, not timed out
}

TEST_F(TlsEchoServerTest, ThrowsWhenItCannotStart) {
  EXPECT_THROW(demo::TlsEchoServer({.certificate_file = ca_.directory() / "missing.pem",
                                   .key_file = ca_.directory() / "missing.key"}),
               std::runtime_error);
  auto bad_address = options();
  bad_address.bind_address = "not-an-address";
  EXPECT_THROW(demo::TlsEchoServer{bad_address}, std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// NginxServer

class NginxServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (/usr/sbin/nginx)";
  }

  demo::NginxOptions options() {
    const demo::IssuedCertificate issued = ca_.issue("nginx");
    return {.certificate_file = issued.certificate_file, .key_file = issued.key_file};
  }

  demo::CertificateAuthority ca_ = demo::CertificateAuthority::create();
};

TEST_F(NginxServerTest, ServesHelloOverVerifiedTls) {
  demo::NginxServer nginx(options());
  EXPECT_EQ(nginx.endpoint(), "127.0.0.1:" + std::to_string(nginx.port()));
  EXPECT_GT(sct::resident_set_bytes(nginx.pid()), 0u);
  // Its one worker is what the HTTP benchmark reads the server's CPU time from. The master
  // listens before it forks the worker: on a loaded machine the worker comes a moment later.
  std::vector<pid_t> workers;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((workers = sct::child_processes(nginx.pid())).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_GE(sct::process_cpu_seconds(workers.front()), 0.0);

  RawTlsClient client(ca_.ca_certificate_file(), nginx.port());
  ASSERT_TRUE(client.handshake()) << ERR_reason_error_string(ERR_peek_error());
  EXPECT_EQ(client.verify_result(), X509_V_OK);
  client.write_all("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  const std::string response = client.read_until_end().data;
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  EXPECT_TRUE(response.ends_with("\r\n\r\nhello\n")) << response;
}

TEST_F(NginxServerTest, CloseLocationAnswersWithConnectionClose) {
  demo::NginxServer nginx(options());
  RawTlsClient client(ca_.ca_certificate_file(), nginx.port());
  ASSERT_TRUE(client.handshake());
  client.write_all("GET /close HTTP/1.1\r\nHost: localhost\r\n\r\n");  // asks for keep-alive
  const std::string response = client.read_until_end().data;        // and still sees the end
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
}

TEST_F(NginxServerTest, OffersHttp2ByAlpn) {
  demo::NginxServer nginx(options());
  RawTlsClient client(ca_.ca_certificate_file(), nginx.port(), {.alpn = "h2"});
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(client.negotiated_alpn(), "h2");
}

TEST_F(NginxServerTest, KeepaliveTimeoutClosesIdleConnections) {
  auto short_keepalive = options();
  short_keepalive.keepalive_timeout_seconds = 1;
  demo::NginxServer nginx(short_keepalive);
  RawTlsClient client(ca_.ca_certificate_file(), nginx.port());
  ASSERT_TRUE(client.handshake());
  client.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const ReadEnding ending = client.read_until_end();  // the response, then the idle close
  EXPECT_TRUE(ending.data.ends_with("hello\n")) << ending.data;
  EXPECT_NE(ending.ssl_error, SSL_ERROR_WANT_READ);  // closed by nginx, not our 10 s timeout
}

TEST_F(NginxServerTest, StopsAndCleansUp) {
  pid_t pid = 0;
  fs::path directory;
  {
    demo::NginxServer nginx(options());
    pid = nginx.pid();
    directory = nginx.error_log().parent_path();
    EXPECT_EQ(::kill(pid, 0), 0);
    EXPECT_TRUE(fs::exists(directory / "nginx.conf"));
  }
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped, so not even a zombie is left
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(fs::exists(directory));
}

// ---------------------------------------------------------------------------------------------
// process_info and the fixtures as a whole

TEST(ProcessInfo, CountsDescriptorsSocketsAndMemory) {
  const std::size_t descriptors = sct::count_open_file_descriptors();
  const std::size_t sockets = sct::count_open_sockets();
  {
    const Socket socket(::socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_EQ(sct::count_open_file_descriptors(), descriptors + 1);
    EXPECT_EQ(sct::count_open_sockets(), sockets + 1);
  }
  EXPECT_EQ(sct::count_open_file_descriptors(), descriptors);
  EXPECT_EQ(sct::count_open_sockets(), sockets);

  EXPECT_GT(sct::resident_set_bytes(), 0u);
  EXPECT_GT(sct::resident_set_bytes(::getpid()), 0u);
  EXPECT_EQ(sct::resident_set_bytes(-1), 0u);
  EXPECT_NE(demo::pick_free_tcp_port(), 0);

  // CPU time, as /proc counts it in clock ticks: 50 ms of work must show as at least 30.
  const double cpu_before = sct::process_cpu_seconds(::getpid());
  ASSERT_GE(cpu_before, 0.0);
  const auto own_cpu = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  const double rusage_before = own_cpu();
  volatile std::uint64_t spin = 0;
  while (own_cpu() - rusage_before < 0.05) spin = spin + 1;
  EXPECT_GE(sct::process_cpu_seconds(::getpid()) - cpu_before, 0.03);
  EXPECT_LT(sct::process_cpu_seconds(-1), 0.0);
  EXPECT_TRUE(sct::child_processes(-1).empty());

  sct::raise_file_descriptor_limit();
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(limit.rlim_cur, limit.rlim_max);
  }
}

// Everything a test does with the fixtures, once.
void use_every_fixture() {
  auto ca = demo::CertificateAuthority::create();
  const auto issued = ca.issue("server");
  {
    demo::TlsEchoServer server({.certificate_file = issued.certificate_file, .key_file = issued.key_file});
    RawTlsClient client(ca.ca_certificate_file(), server.port());
    ASSERT_TRUE(client.handshake());
    ASSERT_EQ(client.round_trip("ping"), "ping");
    server.close_all_connections();
  }
  if (demo::NginxServer::available()) {
    demo::NginxServer nginx({.certificate_file = issued.certificate_file, .key_file = issued.key_file});
    RawTlsClient client(ca.ca_certificate_file(), nginx.port());
    ASSERT_TRUE(client.handshake());
  }
}

TEST(Fixtures, LeaveNoFileDescriptorsBehind) {
  use_every_fixture();  // first use may open lasting descriptors in libraries (e.g. /dev/urandom)
  const std::size_t descriptors = sct::count_open_file_descriptors();
  const std::size_t sockets = sct::count_open_sockets();
  use_every_fixture();
  EXPECT_EQ(sct::count_open_file_descriptors(), descriptors);
  EXPECT_EQ(sct::count_open_sockets(), sockets);
}

}  // namespace
