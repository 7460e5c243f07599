// sc_http_client_*, sc_request_*, sc_response_*: an HttpClient over an sc_pool's pool.
#include "c_api/c_api_error.hpp"
#include "c_api/c_api_handles.hpp"
#include "http/upstream_url.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/string.hpp>

#include <future>
#include <new>
#include <string>

using namespace securechannel::c_api;

namespace {

namespace http = boost::beast::http;
using securechannel::HttpRequest;
using securechannel::HttpResponse;

// The HttpRequest `request` describes, for a pool whose endpoint is host:port of `config`;
// nullopt with `problem` set.
std::optional<HttpRequest> make_request(const sc_request& request, const securechannel::PoolConfig& config,
                                        std::string& problem) {
  if (request.url == nullptr) {
    problem = "request.url must not be NULL";
    return std::nullopt;
  }
  const auto url = securechannel::detail::parse_upstream_url(request.url, problem);
  if (!url) {
    problem = "bad URL '" + std::string(request.url) + "': " + problem;
    return std::nullopt;
  }
  if (url->tls != config.tls.enabled) {
    // Never downgrade what the caller wrote: an https:// URL must not go out in the clear.
    problem = "the URL is " + std::string(url->tls ? "https" : "http") + "://, and the pool's connections are " +
              (config.tls.enabled ? "TLS (use https://)" : "plain TCP, tls = false (use http://)");
    return std::nullopt;
  }
  if (!boost::beast::iequals(url->host, config.host) || url->port != config.port) {
    problem = "the URL's host and port (" + url->host + ":" + url->port + ") are not the pool's endpoint (" +
              config.host + ":" + config.port + ")";
    return std::nullopt;
  }
  if (request.body == nullptr && request.body_length > 0) {
    problem = "request.body is NULL with a body_length of " + std::to_string(request.body_length);
    return std::nullopt;
  }
  if (request.headers == nullptr && request.header_count > 0) {
    problem = "request.headers is NULL with a header_count of " + std::to_string(request.header_count);
    return std::nullopt;
  }
  HttpRequest built{http::verb::get, url->target, 11};
  if (request.method != nullptr) built.method_string(request.method);
  built.set(http::field::host, url->authority);
  for (std::size_t i = 0; i < request.header_count; ++i) {
    const sc_header& header = request.headers[i];
    if (header.name == nullptr || header.value == nullptr) {
      problem = "request.headers[" + std::to_string(i) + "] has a NULL name or value";
      return std::nullopt;
    }
    if (boost::beast::iequals(header.name, "Host")) {
      problem = "request.headers[" + std::to_string(i) + "]: Host is set from the URL";
      return std::nullopt;
    }
    built.insert(header.name, header.value);
  }
  if (request.body_length > 0) {
    built.body().assign(static_cast<const char*>(request.body), request.body_length);
    built.content_length(request.body_length);
  }
  return built;
}

securechannel::HttpRequestOptions options_of(const sc_request& request, const sc_request_options* extra) {
  securechannel::HttpRequestOptions options;
  if (request.timeout_ms > 0) options.timeout = std::chrono::milliseconds(request.timeout_ms);
  if (extra != nullptr) options.affinity = extra->affinity;
  return options;
}

sc_response* make_response(HttpResponse&& response) {
  auto* made = new sc_response;
  made->status = static_cast<int>(response.result_int());
  made->http_version = static_cast<int>(response.version());
  made->exchange = response.exchange;
  for (const auto& field : response) made->headers.emplace_back(field.name_string(), field.value());
  made->body = std::move(response.body());
  return made;
}

// The message of a failed request: the pool's last connect failure when it is this error (it
// carries OpenSSL's reason), else the error's own text.
std::string describe_failure(const securechannel::SecureChannelPool& pool, const boost::system::error_code& failure) {
  const securechannel::ConnectFailure connect = pool.last_connect_failure();
  if (connect.error == failure) return connect.describe();
  return std::string(securechannel::error_kind(failure)) + ": " + failure.message();
}

// Checks the arguments both request forms share; SC_OK or the failure.
int check_request(const sc_http_client* client, const sc_request* request, sc_error* error) {
  if (client == nullptr || request == nullptr) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "client and request must not be NULL");
  }
  return SC_OK;
}

// Runs on an I/O thread: sends `request` and calls `callback` once with its outcome. A call
// cancelled before this ran completes as cancelled without sending.
void begin_request(const std::shared_ptr<securechannel::HttpClient>& http_client, HttpRequest&& request,
                   securechannel::HttpRequestOptions&& options, sc_response_callback callback, void* user_data,
                   const std::shared_ptr<CallState>& call) {
  auto complete = [callback, user_data, http_client, call](boost::system::error_code failure,
                                                           HttpResponse&& response) {
    // Nothing may escape into the I/O thread, and the callback runs once whatever happens.
    sc_error reported{};
    sc_response* made = nullptr;
    try {
      if (failure == boost::asio::error::operation_aborted && call &&
          call->cancelled.load(std::memory_order_acquire)) {
        fail(&reported, SC_E_CANCELLED, "cancelled", "the request was cancelled (sc_call_cancel)");
      } else if (failure) {
        fail(&reported, failure, describe_failure(*http_client->pool(), failure));
      } else {
        made = make_response(std::move(response));
      }
    } catch (...) {
      fail_with_current_exception(&reported);
    }
    if (made != nullptr) {
      callback(user_data, made, nullptr);
    } else {
      callback(user_data, nullptr, &reported);
    }
  };
  try {
    if (!call) return http_client->async_request(std::move(request), std::move(options), std::move(complete));
    // The emit of sc_call_cancel and the slot's assignment take the same lock: a cancel either
    // comes first and is seen here, or finds the request's handler on the slot.
    std::unique_lock lock(call->emit_mutex);
    if (!call->cancelled.load(std::memory_order_acquire)) {
      return http_client->async_request(std::move(request), std::move(options),
                                        boost::asio::bind_cancellation_slot(call->signal.slot(), std::move(complete)));
    }
    lock.unlock();
    complete(boost::asio::error::operation_aborted, HttpResponse{});
  } catch (...) {
    // async_request did not take the request (it takes it or throws before anything starts).
    sc_error reported{};
    fail_with_current_exception(&reported);
    callback(user_data, nullptr, &reported);
  }
}

// sc_request_async and sc_request_start(_with): `call`, when given, can cancel the request.
int start_request(sc_http_client* client, const sc_request* request, const sc_request_options* extra,
                  sc_response_callback callback, void* user_data, std::shared_ptr<CallState> call, sc_error* error) {
  if (const int problem = check_request(client, request, error)) return problem;
  if (callback == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "callback must not be NULL");
  try {
    // The callback can run, and free this client and its pool, before this call has returned
    // (the I/O thread takes the request the moment it is posted).
    const RuntimeHold runtime_held(client->runtime);
    std::string problem;
    std::optional<HttpRequest> built = make_request(*request, client->client->pool()->config(), problem);
    if (!built) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", problem);
    if (call) call->runtime = client->runtime;
    // The request starts on an I/O thread, not on the caller's: everything the exchange
    // allocates is then freed on the thread that allocated it, and the caller's thread (a Go
    // thread, say) does not contend with the I/O thread for the allocator's locks, which cost
    // a futex wait and a context switch per request when the two ran the exchange between them.
    boost::asio::dispatch(client->runtime->io(),
                          [http_client = client->client, built = std::move(*built), options = options_of(*request, extra),
                           callback, user_data, call = std::move(call)]() mutable {
                            begin_request(http_client, std::move(built), std::move(options), callback, user_data,
                                          call);
                          });
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

}  // namespace

extern "C" {

sc_http_client* sc_http_client_new(sc_pool* pool, sc_error* error) {
  if (pool == nullptr) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "pool must not be NULL");
    return nullptr;
  }
  try {
    auto client = std::make_unique<sc_http_client>();
    client->runtime = pool->runtime;
    client->client = std::make_shared<securechannel::HttpClient>(pool->pool);
    {
      std::lock_guard lock(pool->clients_mutex);
      // Forget the clients already freed, so that the list stays as long as the live ones.
      std::erase_if(pool->clients, [](const auto& known) { return known.expired(); });
      pool->clients.push_back(client->client);
    }
    succeed(error);
    return client.release();
  } catch (...) {
    fail_with_current_exception(error);
    return nullptr;
  }
}

void sc_http_client_free(sc_http_client* client) {
  if (client == nullptr) return;
  std::unique_ptr<sc_http_client> handle(client);
  // Requests in flight hold the client (their handlers do) and carry on; when the last of them
  // has run its callback (or now, with none), ~HttpClient closes its HTTP/2 sessions.
  handle->client.reset();
  IoRuntime::release(std::move(handle->runtime));
}

sc_response* sc_request_sync(sc_http_client* client, const sc_request* request, sc_error* error) {
  return sc_request_sync_with(client, request, nullptr, error);
}

sc_response* sc_request_sync_with(sc_http_client* client, const sc_request* request, const sc_request_options* options,
                                  sc_error* error) {
  if (check_request(client, request, error) != SC_OK) return nullptr;
  if (IoRuntime::on_library_thread()) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument",
         "sc_request_sync would block an I/O thread: use sc_request_async in a callback");
    return nullptr;
  }
  try {
    std::string problem;
    std::optional<HttpRequest> built = make_request(*request, client->client->pool()->config(), problem);
    if (!built) {
      fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", problem);
      return nullptr;
    }
    // Shared with the handler: set_value may still be returning on the I/O thread when get()
    // has already returned here.
    auto outcome = std::make_shared<std::promise<std::pair<boost::system::error_code, HttpResponse>>>();
    auto arrived = outcome->get_future();
    client->client->async_request(std::move(*built), options_of(*request, options),
                                  [outcome](boost::system::error_code failure, HttpResponse&& response) {
                                    outcome->set_value({failure, std::move(response)});
                                  });
    auto [failure, response] = arrived.get();
    if (failure) {
      fail(error, failure, describe_failure(*client->client->pool(), failure));
      return nullptr;
    }
    sc_response* made = make_response(std::move(response));
    succeed(error);
    return made;
  } catch (...) {
    fail_with_current_exception(error);
    return nullptr;
  }
}

int sc_request_async(sc_http_client* client, const sc_request* request, sc_response_callback callback,
                     void* user_data, sc_error* error) {
  return start_request(client, request, nullptr, callback, user_data, nullptr, error);
}

int sc_request_start(sc_http_client* client, const sc_request* request, sc_response_callback callback,
                     void* user_data, sc_call** call, sc_error* error) {
  if (call == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "call must not be NULL");
  return sc_request_start_with(client, request, nullptr, callback, user_data, call, error);
}

int sc_request_start_with(sc_http_client* client, const sc_request* request, const sc_request_options* options,
                          sc_response_callback callback, void* user_data, sc_call** call, sc_error* error) {
  if (call == nullptr) return start_request(client, request, options, callback, user_data, nullptr, error);
  *call = nullptr;
  try {
    auto handle = std::make_unique<sc_call>();
    handle->state = std::make_shared<CallState>();
    if (const int problem = start_request(client, request, options, callback, user_data, handle->state, error)) {
      return problem;
    }
    *call = handle.release();
    return SC_OK;
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

sc_request_options* sc_request_options_new(void) { return new (std::nothrow) sc_request_options; }

void sc_request_options_free(sc_request_options* options) { delete options; }

int sc_request_options_set_affinity(sc_request_options* options, const char* key, int may_move, sc_error* error) {
  if (options == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "options must not be NULL");
  const std::string_view text = key == nullptr ? std::string_view{} : std::string_view(key);
  if (text.size() > securechannel::max_affinity_key_bytes) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument",
                "affinity key: " + std::to_string(text.size()) + " bytes, at most " +
                    std::to_string(securechannel::max_affinity_key_bytes));
  }
  try {
    options->affinity = {.key = std::string(text), .may_move = may_move != 0};
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

const char* sc_response_affinity(const sc_response* response) {
  // to_string's views are of string literals: NUL-terminated, static storage.
  return response == nullptr ? "none" : securechannel::to_string(response->exchange.affinity).data();
}

void sc_call_cancel(sc_call* call) {
  if (call == nullptr) return;
  CallState& state = *call->state;
  // Every handle of the pool freed: its requests have completed, there is nothing to cancel.
  std::shared_ptr<IoRuntime> runtime = state.runtime.lock();
  if (!runtime) return;
  const RuntimeHold runtime_held(std::move(runtime));
  state.cancelled.store(true, std::memory_order_release);
  std::lock_guard lock(state.emit_mutex);
  state.signal.emit(boost::asio::cancellation_type::terminal);
}

void sc_call_free(sc_call* call) { delete call; }

int sc_response_status(const sc_response* response) { return response == nullptr ? 0 : response->status; }

int sc_response_http_version(const sc_response* response) {
  return response == nullptr ? 0 : response->http_version;
}

uint64_t sc_response_connection_id(const sc_response* response) {
  return response == nullptr ? 0 : response->exchange.connection_id;
}

int sc_response_reused(const sc_response* response) { return response != nullptr && response->exchange.reused ? 1 : 0; }

unsigned sc_response_attempts(const sc_response* response) {
  return response == nullptr ? 0 : response->exchange.attempts;
}

uint64_t sc_response_acquire_us(const sc_response* response) {
  return response == nullptr ? 0 : static_cast<uint64_t>(response->exchange.acquire_time.count());
}

uint64_t sc_response_first_byte_us(const sc_response* response) {
  return response == nullptr ? 0 : static_cast<uint64_t>(response->exchange.time_to_first_byte.count());
}

uint64_t sc_response_total_us(const sc_response* response) {
  return response == nullptr ? 0 : static_cast<uint64_t>(response->exchange.total_time.count());
}

size_t sc_response_header_count(const sc_response* response) {
  return response == nullptr ? 0 : response->headers.size();
}

int sc_response_header(const sc_response* response, size_t index, const char** name, const char** value) {
  if (response == nullptr || name == nullptr || value == nullptr || index >= response->headers.size()) {
    return fail(nullptr, SC_E_INVALID_ARGUMENT, "invalid_argument", "no such header field");
  }
  *name = response->headers[index].first.c_str();
  *value = response->headers[index].second.c_str();
  return SC_OK;
}

const char* sc_response_header_value(const sc_response* response, const char* name) {
  if (response == nullptr || name == nullptr) return nullptr;
  for (const auto& [field, value] : response->headers) {
    if (boost::beast::iequals(field, name)) return value.c_str();
  }
  return nullptr;
}

const void* sc_response_body(const sc_response* response, size_t* length) {
  if (length != nullptr) *length = response == nullptr ? 0 : response->body.size();
  return response == nullptr ? nullptr : response->body.data();
}

void sc_response_free(sc_response* response) { delete response; }

}  // extern "C"
