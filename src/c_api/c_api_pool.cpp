// sc_pool_*: a SecureChannelPool on I/O threads of its own.
#include "c_api/c_api_config.hpp"
#include "c_api/c_api_error.hpp"
#include "c_api/c_api_handles.hpp"
#include "monitor/status_json.hpp"
#include "securechannel/metrics_registry.hpp"
#include "securechannel/pool_metrics.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>

using namespace securechannel::c_api;

namespace {

using namespace std::chrono_literals;

// How long sc_pool_shutdown waits past the grace for the sockets to close before it reports a
// failure: a close_notify to a peer that does not read is bounded by the pool itself, so only a
// bug would take this long.
constexpr auto shutdown_wait_slack = 30s;

char* copy_to_malloc(const std::string& text) {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) throw std::bad_alloc();
  std::memcpy(copy, text.data(), text.size() + 1);
  return copy;
}

// Shuts the pool and its clients down; waits for the pool unless called on one of its threads.
bool shut_down(sc_pool& handle, std::chrono::milliseconds grace) {
  handle.shut_down_clients();
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  handle.pool->async_shutdown(grace, [done](boost::system::error_code) { done->set_value(); });
  if (handle.runtime->runs_this_thread()) return true;  // it finishes once this callback returns
  return finished.wait_for(grace + shutdown_wait_slack) == std::future_status::ready;
}

}  // namespace

void sc_pool::shut_down_clients() {
  std::vector<std::shared_ptr<securechannel::HttpClient>> live;
  {
    std::lock_guard lock(clients_mutex);
    for (const auto& client : clients) {
      if (auto alive = client.lock()) live.push_back(std::move(alive));
    }
  }
  for (const auto& client : live) client->shutdown();
}

extern "C" {

sc_pool* sc_pool_new(const sc_pool_config* config, sc_error* error) {
  if (config == nullptr) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "config must not be NULL");
    return nullptr;
  }
  try {
    std::optional<securechannel::PoolConfig> pool_config = pool_config_of(*config, error);
    if (!pool_config) return nullptr;
    auto handle = std::make_unique<sc_pool>();
    unsigned io_threads = 1;
    {
      std::lock_guard lock(config->mutex);
      io_threads = config->io_threads;
    }
    handle->runtime = std::make_shared<IoRuntime>(io_threads);
    try {
      handle->pool = securechannel::SecureChannelPool::create(handle->runtime->io().get_executor(),
                                                              std::move(*pool_config));
    } catch (const securechannel::ConfigError& failure) {
      // A CA or key file that cannot be loaded: named like a file mistake.
      fail(error, SC_E_CONFIG, "config_error", failure.what());
      IoRuntime::release(std::move(handle->runtime));
      return nullptr;
    }
    handle->pool->run_cleanup_task();
    succeed(error);
    return handle.release();
  } catch (...) {
    fail_with_current_exception(error);
    return nullptr;
  }
}

void sc_pool_free(sc_pool* pool) {
  if (pool == nullptr) return;
  std::unique_ptr<sc_pool> handle(pool);
  try {
    shut_down(*handle, std::chrono::milliseconds(0));
  } catch (...) {
    // Nothing to report to: the handle goes in any case.
  }
  handle->pool.reset();
  IoRuntime::release(std::move(handle->runtime));
}

int sc_pool_warm_up(sc_pool* pool, sc_error* error) {
  if (pool == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "pool must not be NULL");
  try {
    pool->pool->warm_up();
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

int sc_pool_shutdown(sc_pool* pool, uint32_t grace_ms, sc_error* error) {
  if (pool == nullptr) return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "pool must not be NULL");
  if (IoRuntime::on_library_thread()) {
    return fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument",
                "sc_pool_shutdown waits for I/O threads: call it outside a callback");
  }
  try {
    if (!shut_down(*pool, std::chrono::milliseconds(grace_ms))) {
      return fail(error, SC_E_INTERNAL, "internal_error", "the pool did not finish shutting down");
    }
    return succeed(error);
  } catch (...) {
    return fail_with_current_exception(error);
  }
}

char* sc_pool_status_json(sc_pool* pool, sc_error* error) {
  if (pool == nullptr) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "pool must not be NULL");
    return nullptr;
  }
  try {
    char* text = copy_to_malloc(
        securechannel::monitor::pool_status_json(*pool->pool, std::chrono::system_clock::now()).dump());
    succeed(error);
    return text;
  } catch (...) {
    fail_with_current_exception(error);
    return nullptr;
  }
}

char* sc_pool_metrics_text(sc_pool* pool, sc_error* error) {
  if (pool == nullptr) {
    fail(error, SC_E_INVALID_ARGUMENT, "invalid_argument", "pool must not be NULL");
    return nullptr;
  }
  try {
    securechannel::MetricsRegistry registry;
    const auto registration = registry.add(
        "pool", [live = pool->pool](securechannel::MetricFamilies& families) {
          securechannel::collect_pool_metrics(*live, families);
        });
    char* text = copy_to_malloc(registry.render());
    succeed(error);
    return text;
  } catch (...) {
    fail_with_current_exception(error);
    return nullptr;
  }
}

void sc_string_free(char* text) { std::free(text); }

}  // extern "C"
