// MonitoringServer over HTTPS: certificates loaded with every failure named, a verifying client
// served with keep-alive, plain HTTP refused and counted, close_notify after a final response,
// the header deadline over TLS, and a reload that changes the certificate for new connections
// only.
#include "demo/certificate_authority.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/monitoring_tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;
using testing::eventually;

// A client as strict as curl: verifies the chain against the test CA and the name 127.0.0.1.
// Every read gives up after 10 s (SO_RCVTIMEO), so a server that never answers fails the test
// instead of hanging it.
class VerifyingClient {
 public:
  VerifyingClient(std::uint16_t port, const std::filesystem::path& ca_file) {
    context_.load_verify_file(ca_file.string());
    context_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    stream_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    const timeval limit{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(stream_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    stream_.handshake(ssl::stream_base::client);
  }

  http::response<http::string_body> get(const std::string& target) {
    http::request<http::string_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return response;
  }

  // Sends bytes as they are (part of a header, say) and reads one response.
  http::response<http::string_body> send_and_read(std::string_view bytes) {
    asio::write(stream_, asio::buffer(bytes.data(), bytes.size()));
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return response;
  }

  // The error the next read ends with: eof after the server's close_notify, stream_truncated
  // when it closed TCP without one.
  boost::system::error_code read_until_closed() {
    boost::system::error_code error;
    char byte = 0;
    while (!error) stream_.read_some(asio::buffer(&byte, 1), error);
    return error;
  }

  std::string peer_common_name() {
    X509* certificate = SSL_get0_peer_certificate(stream_.native_handle());
    if (certificate == nullptr) return {};
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name);
    return name;
  }

 private:
  asio::io_context io_;
  ssl::context context_{ssl::context::tls_client};
  ssl::stream<tcp::socket> stream_{io_, context_};
  boost::beast::flat_buffer buffer_;
};

class MonitoringTlsTest : public ::testing::Test {
 protected:
  std::shared_ptr<MonitoringTls> load(const demo::IssuedCertificate& issued) {
    std::optional<ConfigError> error;
    auto tls = MonitoringTls::load(issued.chain_file.string(), issued.key_file.string(), error);
    if (!tls) throw std::runtime_error(std::string("MonitoringTls::load: ") + error->what());
    return tls;
  }

  std::shared_ptr<MonitoringServer> start_server(std::shared_ptr<MonitoringTls> tls,
                                                 std::chrono::milliseconds read_timeout = 5s) {
    MonitoringServerOptions options;
    options.port = 0;
    options.tls = std::move(tls);
    options.read_timeout = read_timeout;
    boost::system::error_code error;
    server = MonitoringServer::create(
        io.executor(), std::move(options),
        [](const MonitoringRequest& request) {
          MonitoringResponse response;
          response.body = "{\"target\":\"" + std::string(request.target) + "\"}";
          return response;
        },
        error);
    if (!server) throw std::runtime_error("create: " + error.message());
    server->start();
    return server;
  }

  void TearDown() override {
    if (server) server->stop();
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate monitor_certificate =
      authority.issue("monitor", {.common_name = "monitor-one", .dns_names = {"localhost"}});
  testing::IoThread io;
  std::shared_ptr<MonitoringServer> server;
};

TEST_F(MonitoringTlsTest, LoadNamesTheFileAndTheReasonOfEachFailure) {
  std::optional<ConfigError> error;
  // The message of the last failure, naming its field first.
  const auto message = [&] { return error ? std::string(error->what()) : std::string(); };
  EXPECT_EQ(MonitoringTls::load("/nonexistent/monitor.pem", monitor_certificate.key_file.string(), error), nullptr);
  EXPECT_NE(message().find("certificate_file: cannot load '/nonexistent/monitor.pem'"), std::string::npos) << message();

  EXPECT_EQ(MonitoringTls::load(monitor_certificate.chain_file.string(), "/nonexistent/monitor.key", error), nullptr);
  EXPECT_NE(message().find("key_file: "), std::string::npos) << message();
  EXPECT_NE(message().find("/nonexistent/monitor.key"), std::string::npos) << message();

  const auto garbage = authority.directory() / "garbage.key";
  std::ofstream(garbage) << "not a key\n";
  EXPECT_EQ(MonitoringTls::load(monitor_certificate.chain_file.string(), garbage.string(), error), nullptr);
  EXPECT_NE(message().find("holds no PEM private key"), std::string::npos) << message();

  const auto other = authority.issue("other");
  EXPECT_EQ(MonitoringTls::load(monitor_certificate.chain_file.string(), other.key_file.string(), error), nullptr);
  EXPECT_NE(message().find("does not match the certificate"), std::string::npos) << message();

  EXPECT_EQ(MonitoringTls::load("", monitor_certificate.key_file.string(), error), nullptr);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field(), "certificate_file");
  EXPECT_EQ(error->problem(), "required for TLS");

  const auto tls = MonitoringTls::load(monitor_certificate.chain_file.string(),
                                       monitor_certificate.key_file.string(), error);
  ASSERT_NE(tls, nullptr) << message();
  EXPECT_NE(tls->summary().find("CN=monitor-one, expires "), std::string::npos) << tls->summary();
}

TEST_F(MonitoringTlsTest, ServesAVerifyingClientWithKeepAliveAndEndsWithCloseNotify) {
  start_server(load(monitor_certificate));
  EXPECT_EQ(server->base_url(), "https://127.0.0.1:" + std::to_string(server->port()));
  VerifyingClient client(server->port(), authority.ca_certificate_file());
  EXPECT_EQ(client.peer_common_name(), "monitor-one");
  for (const std::string target : {"/healthz", "/api/v1/secure-channel/status"}) {
    const auto response = client.get(target);
    EXPECT_EQ(response.result_int(), 200);
    EXPECT_EQ(response.body(), "{\"target\":\"" + target + "\"}");
    EXPECT_TRUE(response.keep_alive());
  }
  // A request asking to close: the answer, then close_notify, so the client sees a clean eof.
  const auto closing = client.send_and_read("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(closing.result_int(), 200);
  EXPECT_FALSE(closing.keep_alive());
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
  EXPECT_EQ(server->stats().requests_served, 3u);
  EXPECT_EQ(server->stats().tls_handshake_failures, 0u);
}

TEST_F(MonitoringTlsTest, PlainHttpToTheHttpsPortIsClosedUnansweredAndCounted) {
  start_server(load(monitor_certificate));
  testing::HttpTestConnection plain(server->port());
  plain.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_TRUE(plain.closed_by_server());
  EXPECT_TRUE(eventually([&] { return server->stats().tls_handshake_failures == 1; }));
  EXPECT_EQ(server->stats().requests_served, 0u);
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
}

TEST_F(MonitoringTlsTest, AnIncompleteHeaderGetsA408OverTls) {
  start_server(load(monitor_certificate), 300ms);
  VerifyingClient client(server->port(), authority.ca_certificate_file());
  const auto response = client.send_and_read("GET /healthz HTTP/1.1\r\nHost: 127.0");
  EXPECT_EQ(response.result_int(), 408);
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
}

TEST_F(MonitoringTlsTest, AReloadChangesTheCertificateForNewConnectionsOnly) {
  start_server(load(monitor_certificate));
  VerifyingClient before(server->port(), authority.ca_certificate_file());
  EXPECT_EQ(before.get("/healthz").result_int(), 200);

  const auto renewed = authority.issue("renewed", {.common_name = "monitor-two", .dns_names = {"localhost"}});
  EXPECT_TRUE(server->reload_tls(load(renewed)));
  EXPECT_FALSE(server->reload_tls(nullptr));

  VerifyingClient after(server->port(), authority.ca_certificate_file());
  EXPECT_EQ(after.peer_common_name(), "monitor-two");
  EXPECT_EQ(after.get("/healthz").result_int(), 200);
  // The connection made before the reload carries on with the certificate it started with.
  EXPECT_EQ(before.peer_common_name(), "monitor-one");
  EXPECT_EQ(before.get("/healthz").result_int(), 200);
}

TEST_F(MonitoringTlsTest, APlainServerCannotBeReloadedIntoHttps) {
  start_server(nullptr);
  EXPECT_EQ(server->base_url(), "http://127.0.0.1:" + std::to_string(server->port()));
  EXPECT_FALSE(server->reload_tls(load(monitor_certificate)));
  testing::HttpTestConnection plain(server->port());
  EXPECT_EQ(plain.get("/healthz").result_int(), 200);
}

}  // namespace
}  // namespace securechannel
