#include "securechannel/http_client.hpp"

#include "http/http_client_core.hpp"

namespace securechannel {

std::string_view to_string(HttpProtocol protocol) noexcept {
  switch (protocol) {
    case HttpProtocol::unknown: return "unknown";
    case HttpProtocol::http1_1: return "http/1.1";
    case HttpProtocol::http2: return "h2";
  }
  return "unknown";
}

HttpClient::HttpClient(std::shared_ptr<SecureChannelPool> pool)
    : core_(std::make_shared<detail::HttpClientCore>(std::move(pool))) {}

HttpClient::~HttpClient() { core_->shutdown(/*abort_streams=*/true); }

void HttpClient::start_request(HttpRequest&& request, HttpRequestOptions&& options, ResponseHandler&& handler,
                               bool on_pool_executor) {
  core_->start(std::move(request), std::move(options), std::move(handler), on_pool_executor);
}

void HttpClient::start_request(std::shared_ptr<const HttpRequest>&& request, HttpRequestOptions&& options,
                               ResponseHandler&& handler, bool on_pool_executor) {
  core_->start(std::move(request), std::move(options), std::move(handler), on_pool_executor);
}

void HttpClient::shutdown() { core_->shutdown(/*abort_streams=*/false); }

HttpClientStats HttpClient::stats() const { return core_->stats(); }

const std::shared_ptr<SecureChannelPool>& HttpClient::pool() const noexcept { return core_->pool(); }

}  // namespace securechannel
