#include "daemon/daemon.hpp"

#include "core/loopback_address.hpp"
#include "daemon/config_changes.hpp"
#include "daemon/daemon_log.hpp"
#include "daemon/http_forward_listener.hpp"
#include "daemon/http_forward_metrics.hpp"
#include "daemon/tcp_splice_listener.hpp"
#include "daemon/upstream_group.hpp"
#include "daemon/upstream_group_report.hpp"
#include "monitor/history_sampler.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/metrics_registry.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Daemon::RunningPool {
  DaemonPoolConfig config;
  std::shared_ptr<UpstreamGroup> upstreams;  // a SecureChannelPool (and HttpClient) per endpoint
  std::vector<std::shared_ptr<TcpSpliceListener>> tcp_listeners;
  std::vector<std::shared_ptr<HttpForwardListener>> http_listeners;
  std::vector<MetricsRegistry::Registration> listener_metrics;
  MetricsRegistry::Registration group_metrics;
};

namespace {

std::string address_of(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  return endpoint.address().is_v6() ? "[" + host + "]:" + std::to_string(endpoint.port())
                                    : host + ":" + std::to_string(endpoint.port());
}

}  // namespace

Daemon::Daemon(asio::io_context& io, DaemonConfig config)
    : io_(io), config_(std::move(config)), monitored_(std::make_shared<MonitoredPools>()) {
  monitored_->set_service_identity("scpool", std::chrono::system_clock::now());
  // Every pool is built before anything is bound: the TLS files of all of them are checked, and
  // their problems reported together, like the file's own.
  std::vector<ConfigError> problems;
  for (std::size_t i = 0; i < config_.pools.size(); ++i) {
    try {
      build_pool(config_.pools[i]);
    } catch (const ConfigError& error) {
      problems.emplace_back("pool[" + std::to_string(i) + "]." + error.field(),
                            std::string(error.what()).substr(error.field().size() + 2));
    }
  }
  if (!problems.empty()) throw ConfigErrors(std::move(problems));
  for (auto& running : pools_) {
    if (running->config.backup.empty()) continue;
    for (auto& other : pools_) {
      if (other->config.pool.metric_namespace == running->config.backup) running->upstreams->set_backup(other->upstreams);
    }
  }
  for (auto& running : pools_) open_listeners(*running);
  open_monitor();
}

Daemon::~Daemon() = default;

void Daemon::build_pool(DaemonPoolConfig& entry) {
  auto running = std::make_unique<RunningPool>();
  running->config = entry;
  running->upstreams = std::make_shared<UpstreamGroup>(entry.pool.metric_namespace, entry.balancing,
                                                       entry.outlier_detection, entry.pool.clock);
  const bool forwards_http = std::any_of(entry.listeners.begin(), entry.listeners.end(),
                                         [](const ListenerConfig& l) { return l.mode == ListenerMode::http; });
  for (const std::string& endpoint : entry.endpoints) {
    PoolConfig config = entry.pool;
    config.endpoint = endpoint;
    config.log_sink = log_pool_line;
    auto pool = SecureChannelPool::create(io_.get_executor(), std::move(config));
    std::string problem;
    if (!monitored_->add(pool, problem)) throw ConfigError("namespace", problem);
    std::shared_ptr<HttpClient> client;
    if (forwards_http) {
      client = std::make_shared<HttpClient>(pool);
      monitored_->export_http_client(client);
    }
    running->upstreams->add({std::move(pool), std::move(client), endpoint});
  }
  running->group_metrics = monitored_->registry().add(
      "upstream_group|" + entry.pool.metric_namespace, [weak = std::weak_ptr(running->upstreams)](MetricFamilies& out) {
        if (auto group = weak.lock()) collect_upstream_group_metrics(*group, out);
      });
  pools_.push_back(std::move(running));
}

namespace {

TcpSpliceOptions tcp_options_of(const ListenerConfig& listener) {
  TcpSpliceOptions options;
  options.host = listener.host;
  options.port = listener.port;
  options.limits = listener.limits;
  return options;
}

HttpForwardOptions http_options_of(const ListenerConfig& listener) {
  HttpForwardOptions options;
  options.host = listener.host;
  options.port = listener.port;
  options.limits = listener.limits;
  options.add_forwarded_headers = listener.add_forwarded_headers;
  options.request_timeout = listener.request_timeout;
  options.affinity_header = listener.affinity_header;
  return options;
}

// A bound listener of either kind, its metrics registered under its address; `listeners` keeps it.
template <class Listener, class Options, class Collect>
void open_listener(const ListenerConfig& listener, Options options, const std::shared_ptr<UpstreamGroup>& upstreams,
                   asio::io_context& io, MetricsRegistry& registry, Collect collect,
                   std::vector<std::shared_ptr<Listener>>& listeners,
                   std::vector<MetricsRegistry::Registration>& registrations) {
  const std::string& pool_name = upstreams->name();
  boost::system::error_code error;
  auto opened = Listener::create(io.get_executor(), std::move(options), upstreams, error);
  if (!opened) throw ConfigError("pool " + pool_name + " listener " + listener.address(), "cannot listen: " + error.message());
  const std::string bound = address_of(opened->local_endpoint());
  if (!detail::is_loopback_address(opened->local_endpoint().address())) {
    // Only with allow_insecure_bind (the config refuses it otherwise): said once, at start.
    spdlog::warn("pool {} listener {}: listening beyond loopback without authentication (allow_insecure_bind)",
                 pool_name, bound);
  }
  registrations.push_back(registry.add(
      "listener|" + bound, [weak = std::weak_ptr(opened), pool_name, bound, collect](MetricFamilies& out) {
        if (auto live = weak.lock()) collect(*live, pool_name, bound, out);
      }));
  listeners.push_back(std::move(opened));
}

}  // namespace

void Daemon::open_listeners(RunningPool& running) {
  MetricsRegistry& registry = monitored_->registry();
  for (const ListenerConfig& listener : running.config.listeners) {
    if (listener.mode == ListenerMode::tcp) {
      open_listener(listener, tcp_options_of(listener), running.upstreams, io_, registry, collect_tcp_splice_metrics,
                    running.tcp_listeners, running.listener_metrics);
    } else {
      open_listener(listener, http_options_of(listener), running.upstreams, io_, registry,
                    collect_http_forward_metrics, running.http_listeners, running.listener_metrics);
    }
  }
}

void Daemon::open_monitor() {
  MonitoringServerOptions options;
  options.host = config_.monitor.host;
  options.port = config_.monitor.port;
  options.auth_token = config_.monitor.token;
  options.tls = config_.monitor.tls;
  options.allow_insecure_bind = config_.monitor.allow_insecure_bind;
  options.auth_failures_allowed = config_.monitor.auth_failures_allowed;
  options.auth_failure_interval = config_.monitor.auth_failure_interval;
  options.unauthenticated_paths = MonitoredPools::unauthenticated_paths();
  boost::system::error_code error;
  std::vector<std::shared_ptr<UpstreamGroup>> groups;
  for (const auto& running : pools_) groups.push_back(running->upstreams);
  // The endpoints' view is the daemon's own; everything else is the pools' (MonitoredPools).
  monitor_ = MonitoringServer::create(
      io_.get_executor(), std::move(options),
      [pools = monitored_, groups = std::move(groups)](const MonitoringRequest& request) {
        const std::string_view path = request.target.substr(0, request.target.find('?'));
        if (path == "/api/v1/secure-channel/endpoints" && (request.method == "GET" || request.method == "HEAD")) {
          MonitoringResponse response;
          response.body = upstream_groups_json(groups).dump();
          return response;
        }
        return pools->handle(request);
      },
      error);
  if (!monitor_) {
    throw ConfigError("monitor.listen", "cannot listen on " + config_.monitor.host + ":" +
                                            std::to_string(config_.monitor.port) + ": " + error.message());
  }
  monitored_->export_server_metrics(monitor_, "scpool");
}

void Daemon::start() {
  for (auto& running : pools_) {
    for (const UpstreamGroup::Member& member : running->upstreams->members()) {
      member.pool->run_cleanup_task();
      member.pool->warm_up();
    }
    for (auto& listener : running->tcp_listeners) listener->start();
    for (auto& listener : running->http_listeners) listener->start();
  }
  monitor_->start();
  history_sampler_ = monitor::HistorySampler::start(io_.get_executor(), monitored_);
}

bool Daemon::reload_listeners(RunningPool& running, const DaemonPoolConfig& next) {
  const std::string& name = running.config.pool.metric_namespace;
  bool all_applied = true;
  // running.tcp_listeners and http_listeners hold each mode's listeners in the file's order.
  std::size_t tcp_index = 0;
  std::size_t http_index = 0;
  for (std::size_t i = 0; i < running.config.listeners.size(); ++i) {
    ListenerConfig& current = running.config.listeners[i];
    const bool tcp = current.mode == ListenerMode::tcp;
    const std::size_t index_of_mode = tcp ? tcp_index++ : http_index++;
    // Another mode or address: reported by changes_needing_restart, left as it runs.
    if (i >= next.listeners.size() || !same_listener(current, next.listeners[i])) continue;
    const ListenerConfig& wanted = next.listeners[i];
    const auto changes = listener_setting_changes(name, i, current, wanted);
    if (changes.empty()) continue;
    std::string problem;
    const bool updated = tcp ? running.tcp_listeners[index_of_mode]->update(tcp_options_of(wanted), problem)
                             : running.http_listeners[index_of_mode]->update(http_options_of(wanted), problem);
    if (!updated) {
      all_applied = false;
      log_pool(spdlog::level::err, name, 0,
               fmt::format("listener[{}]: new limits refused, the running ones stay: {}", i, problem));
      continue;
    }
    for (const std::string& change : changes) log_pool(spdlog::level::info, name, 0, "applied live: " + change);
    current.limits = wanted.limits;
    current.add_forwarded_headers = wanted.add_forwarded_headers;
    current.request_timeout = wanted.request_timeout;
    current.affinity_header = wanted.affinity_header;
  }
  return all_applied;
}

bool Daemon::reload(const DaemonConfig& next) {
  bool all_applied = true;
  configure_logging(next.log);
  for (auto& running : pools_) {
    const std::string& name = running->config.pool.metric_namespace;
    const auto found = std::find_if(next.pools.begin(), next.pools.end(),
                                    [&](const DaemonPoolConfig& p) { return p.pool.metric_namespace == name; });
    if (found == next.pools.end()) continue;  // reported below
    // The files are read again even when their names did not change: a rotated CA or key is
    // the usual reason for a SIGHUP.
    std::string problem;
    bool reloaded = true;
    for (const UpstreamGroup::Member& member : running->upstreams->members()) {
      if (const auto refused = member.pool->reload_tls(found->pool.tls)) {
        reloaded = false;
        problem = refused->what();
      }
    }
    if (!reloaded) {
      all_applied = false;
      log_pool(spdlog::level::err, name, 0,
               (running->config.pool.tls.enabled ? "TLS reload refused, the previous material stays in use: "
                                                 : "refused, the plain pool keeps its protocol: ") +
                   problem);
    } else if (!found->pool.tls.enabled) {
      running->config.pool.tls = found->pool.tls;  // plain TCP, as before: no material to read again
    } else {
      log_pool(spdlog::level::info, name, 0,
               same_tls_options(running->config.pool.tls, found->pool.tls)
                   ? "TLS material read again; new connections use it"
                   : "TLS options changed; new connections use them");
      running->config.pool.tls = found->pool.tls;
    }
    if (const auto changes = limit_changes(running->config.pool, found->pool); !changes.empty()) {
      std::string limit_problem;
      bool limits_applied = true;
      for (const UpstreamGroup::Member& member : running->upstreams->members()) {
        if (const auto refused = member.pool->update_limits(limits_of(found->pool))) {
          limits_applied = false;
          limit_problem = refused->what();
        }
      }
      if (limits_applied) {
        for (const std::string& change : changes) log_pool(spdlog::level::info, name, 0, "applied live: " + change);
        apply_limits(limits_of(found->pool), running->config.pool);
      } else {
        all_applied = false;
        log_pool(spdlog::level::err, name, 0, "new limits refused, the running ones stay: " + limit_problem);
      }
    }
    all_applied = reload_listeners(*running, *found) && all_applied;
  }
  // Read again even when the file names did not change: a renewed certificate is the usual case.
  if (config_.monitor.tls && next.monitor.tls && monitor_->reload_tls(next.monitor.tls)) {
    spdlog::info("monitoring server: certificate read again ({}); new connections use it", next.monitor.tls->summary());
    config_.monitor.tls = next.monitor.tls;
    config_.monitor.tls_certificate_file = next.monitor.tls_certificate_file;
    config_.monitor.tls_key_file = next.monitor.tls_key_file;
  }
  for (const std::string& change : changes_needing_restart(config_, next)) {
    spdlog::warn("reload: {} needs a restart; the running value stays", change);
  }
  // What was applied becomes the running configuration; the rest stays as it runs.
  config_.log = next.log;
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    config_.pools[i].pool.tls = pools_[i]->config.pool.tls;
    config_.pools[i].listeners = pools_[i]->config.listeners;
    apply_limits(limits_of(pools_[i]->config.pool), config_.pools[i].pool);
  }
  return all_applied;
}

void Daemon::async_stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  stopped_ = std::move(done);
  // One count per listener drain, and one for this function, so `done` cannot run before every
  // drain was started.
  stops_pending_ = 1;
  const auto one_done = [this] {
    if (--stops_pending_ == 0) finish_stop();
  };
  for (auto& running : pools_) {
    for (auto& listener : running->tcp_listeners) {
      ++stops_pending_;
      listener->async_drain(config_.drain_grace, one_done);
    }
    for (auto& listener : running->http_listeners) {
      ++stops_pending_;
      listener->async_drain(config_.drain_grace, one_done);
    }
  }
  one_done();
}

void Daemon::finish_stop() {
  // Listeners are drained: nothing takes a connection any more. Pools close theirs (idle ones at
  // once, leased ones when given back or at the grace), then the monitoring server goes.
  std::vector<UpstreamGroup::Member> members;
  for (auto& running : pools_) {
    for (const UpstreamGroup::Member& member : running->upstreams->members()) members.push_back(member);
  }
  auto pools_left = std::make_shared<std::size_t>(members.size());
  const auto pool_closed = [this, pools_left](boost::system::error_code) {
    if (--*pools_left != 0) return;
    if (history_sampler_) history_sampler_->stop();
    monitor_->stop();
    if (auto done = std::exchange(stopped_, nullptr)) done();
  };
  if (members.empty()) return pool_closed({}), void();
  for (const UpstreamGroup::Member& member : members) {
    if (member.http_client) member.http_client->shutdown();
    member.pool->async_shutdown(std::chrono::milliseconds(1000), pool_closed);
  }
}

std::string Daemon::describe() const {
  std::string text;
  for (const auto& running : pools_) {
    const PoolConfig& pool = running->config.pool;
    std::string endpoints;
    for (const std::string& endpoint : running->config.endpoints) endpoints += (endpoints.empty() ? "" : ", ") + endpoint;
    text += fmt::format("pool {}: {} (max_connections {} per endpoint, min_idle {}{}{})\n", pool.metric_namespace,
                        endpoints, pool.max_connections, pool.min_idle,
                        running->config.endpoints.size() > 1 ? std::string(", ") + to_string(running->config.balancing) : "",
                        running->config.backup.empty() ? "" : ", backup " + running->config.backup);
    for (const auto& listener : running->tcp_listeners) {
      text += fmt::format("  tcp listener {} -> {} {}\n", address_of(listener->local_endpoint()),
                          pool.tls.enabled ? "TLS" : "plain TCP", endpoints);
    }
    for (const auto& listener : running->http_listeners) {
      text += fmt::format("  http listener http://{} -> {}://{}\n", address_of(listener->local_endpoint()),
                          scheme_of(pool), endpoints);
    }
  }
  const std::string base = monitoring_base_url();
  text += fmt::format("monitoring{}{}:\n",
                      config_.monitor.token ? " (X-Auth-Token required except for probes and the dashboard page)" : "",
                      config_.monitor.tls ? ", certificate " + config_.monitor.tls->summary() : "");
  for (const char* path : {"/metrics", "/healthz", "/readyz", "/status/connections", "/api/v1/secure-channel/status",
                           "/api/v1/secure-channel/status/enhanced", "/api/v1/secure-channel/stats"}) {
    text += fmt::format("  {}{}\n", base, path);
  }
  text += fmt::format("dashboard {}/\n", base);
  return text;
}

std::string Daemon::monitoring_base_url() const { return monitor_->base_url(); }

}  // namespace securechannel::daemon
