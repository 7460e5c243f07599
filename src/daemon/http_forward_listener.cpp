#include "daemon/http_forward_listener.hpp"

#include "daemon/http_forward_session.hpp"
#include "daemon/local_acceptor.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <utility>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

bool limits_valid(const ListenerLimits& limits) {
  return limits.max_connections > 0 && limits.max_header_bytes > 0 && limits.idle_timeout.count() > 0 &&
         limits.header_timeout.count() > 0;
}

}  // namespace

std::shared_ptr<HttpForwardListener> HttpForwardListener::create(executor_type executor, HttpForwardOptions options,
                                                                 std::shared_ptr<UpstreamGroup> upstreams,
                                                                 error_code& error) {
  error.clear();
  const bool every_endpoint_has_a_client =
      upstreams && !upstreams->members().empty() &&
      std::all_of(upstreams->members().begin(), upstreams->members().end(),
                  [](const UpstreamGroup::Member& member) { return member.http_client != nullptr; });
  if (!every_endpoint_has_a_client || !limits_valid(options.limits) || options.request_timeout.count() <= 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const auto address = asio::ip::make_address(options.host, error);
  if (error) return nullptr;
  auto acceptor = LocalAcceptor::create(std::move(executor), tcp::endpoint(address, options.port),
                                        options.limits.max_connections, "http listener", upstreams->name(), error);
  if (!acceptor) return nullptr;
  auto context = std::make_shared<ForwardContext>(std::move(options), std::move(upstreams));
  context->acceptor = acceptor;
  return std::make_shared<HttpForwardListener>(PrivateTag{}, std::move(acceptor), std::move(context));
}

std::shared_ptr<HttpForwardListener> HttpForwardListener::create(executor_type executor, HttpForwardOptions options,
                                                                 std::shared_ptr<HttpClient> client,
                                                                 error_code& error) {
  if (!client) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  return create(std::move(executor), std::move(options), UpstreamGroup::single(client->pool(), client), error);
}

HttpForwardListener::HttpForwardListener(PrivateTag, std::shared_ptr<LocalAcceptor> acceptor,
                                         std::shared_ptr<ForwardContext> context)
    : acceptor_(std::move(acceptor)), context_(std::move(context)) {}

HttpForwardListener::~HttpForwardListener() { acceptor_->stop_accepting(); }

void HttpForwardListener::start() {
  acceptor_->start([context = context_](tcp::socket socket) {
    const std::uint64_t connection_id = context->connections_accepted.fetch_add(1, std::memory_order_relaxed) + 1;
    auto session = std::make_shared<HttpForwardSession>(std::move(socket), context, connection_id);
    context->sessions.add(session);
    session->start();
  });
}

void HttpForwardListener::stop_accepting() { acceptor_->stop_accepting(); }

void HttpForwardListener::async_drain(std::chrono::milliseconds grace, std::function<void()> done) {
  acceptor_->async_drain(grace,
                         {.begin = [context = context_] { context->drain_all(); },
                          .deadline = [context = context_] { context->close_all(); }},
                         std::move(done));
}

bool HttpForwardListener::update(const HttpForwardOptions& next, std::string& problem) {
  const auto running = context_->settings.current();
  if (next.host != running->host || next.port != running->port || next.upstream_authority != running->upstream_authority) {
    problem = "the address and upstream_authority of a listener cannot change while it runs";
    return false;
  }
  if (!limits_valid(next.limits) || next.request_timeout.count() <= 0) {
    problem = "limits and timeouts must be greater than zero";
    return false;
  }
  context_->settings.replace(next);
  acceptor_->set_max_connections(next.limits.max_connections);
  return true;
}

tcp::endpoint HttpForwardListener::local_endpoint() const noexcept { return acceptor_->local_endpoint(); }

HttpForwardStats HttpForwardListener::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  HttpForwardStats stats;
  stats.connections_accepted = acceptor_->connections_accepted();
  stats.active_connections = acceptor_->open_connections();
  stats.accept_pauses = acceptor_->accept_pauses();
  stats.requests = context_->requests.load(relaxed);
  stats.responses_2xx = context_->responses_2xx.load(relaxed);
  stats.responses_3xx = context_->responses_3xx.load(relaxed);
  stats.responses_4xx = context_->responses_4xx.load(relaxed);
  stats.responses_5xx = context_->responses_5xx.load(relaxed);
  stats.upstream_errors = context_->upstream_errors.load(relaxed);
  stats.rejected = context_->rejected.load(relaxed);
  stats.retries = context_->retries.load(relaxed);
  return stats;
}

}  // namespace securechannel::daemon
