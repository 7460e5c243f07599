// Blocking helpers for tests that drive an HttpClient: send one request, get a future of its
// outcome (the client's handler runs on the pool's executor, an IoThread in these tests).
//
//   std::future<testing::HttpOutcome> sent = testing::send_request(client, request);
//   testing::HttpOutcome outcome = sent.get();
//   ASSERT_FALSE(outcome.error) << outcome.error.message();
#pragma once

#include "securechannel/http_client.hpp"

#include <boost/beast/http/field.hpp>

#include <future>
#include <memory>
#include <string>

namespace securechannel::testing {

struct HttpOutcome {
  boost::system::error_code error;
  HttpResponse response;
};

// Request: an HttpRequest, or a std::shared_ptr<const HttpRequest> sent without a copy.
template <class Request>
std::future<HttpOutcome> send_request(HttpClient& client, Request request, HttpRequestOptions options = {}) {
  auto promise = std::make_shared<std::promise<HttpOutcome>>();
  auto result = promise->get_future();
  client.async_request(std::move(request), std::move(options),
                       [promise](boost::system::error_code error, HttpResponse response) {
                         promise->set_value({error, std::move(response)});
                       });
  return result;
}

// A request with a Host header (nginx's fixtures answer any host) and an optional body.
inline HttpRequest make_request(boost::beast::http::verb method, std::string target, std::string body = {}) {
  HttpRequest request{method, target, 11};
  request.set(boost::beast::http::field::host, "localhost");
  request.body() = std::move(body);
  return request;
}

}  // namespace securechannel::testing
