// The upstream's certificate over a pool's life: its expiry, exported and warned about, and the
// TLS material (CA and client-certificate files) reloaded for new connections on request.
#include "securechannel/secure_channel_pool.hpp"

#include "core/rfc3339.hpp"
#include "pool/connect_history.hpp"
#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/shutdown_state.hpp"
#include "tls/peer_certificate.hpp"


#include <utility>

namespace securechannel {

using detail::PooledConnection;

namespace {

// "3 days", "17 hours", "42 minutes": precise enough for a renewal reminder.
std::string rough_duration(std::chrono::system_clock::duration span) {
  using namespace std::chrono;
  const auto minutes = duration_cast<std::chrono::minutes>(span).count();
  if (minutes >= 2 * 24 * 60) return std::to_string(minutes / (24 * 60)) + " days";
  if (minutes >= 2 * 60) return std::to_string(minutes / 60) + " hours";
  return std::to_string(minutes) + " minutes";
}

}  // namespace

void SecureChannelPool::record_upstream_certificate_locked(PooledConnection& connection, Deferred& deferred) {
  // A resumed handshake skips the certificate exchange; the value from the full handshake that
  // issued its ticket stands.
  const SecureChannel& channel = connection.channel();
  if (channel.resumed_session()) return;
  const auto not_after = detail::peer_leaf_not_after(channel.native_handle());
  if (!not_after) return;
  counters_.upstream_certificate_not_after = not_after;
  check_certificate_expiry_locked(deferred);
}

void SecureChannelPool::check_certificate_expiry_locked(Deferred& deferred) {
  const auto& not_after = counters_.upstream_certificate_not_after;
  if (!not_after || config_.certificate_expiry_warning.count() == 0 || history_->expiry_warned_for == not_after) return;
  const auto remaining = *not_after - config_.clock->wall_now();
  if (remaining >= config_.certificate_expiry_warning) return;
  history_->expiry_warned_for = not_after;
  const std::string when = remaining.count() > 0 ? "expires in " + rough_duration(remaining) : "has expired";
  deferred.actions().log_lines.push_back(
      {LogLevel::warn, 0,
       "the certificate of " + config_.endpoint + " " + when + " (notAfter " + detail::rfc3339_utc(*not_after) +
           "), within certificate_expiry_warning (" + rough_duration(config_.certificate_expiry_warning) +
           "): renew it on the upstream"});
}

std::shared_ptr<const ClientTlsContext> SecureChannelPool::tls_context() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

void SecureChannelPool::retire_old_material_locked(Deferred& deferred) {
  // Idle ones close now and are replaced with the new material; leased ones when their lease
  // ends (their holders are told: an HTTP/2 session drains). A connect in flight with the old
  // material is not stopped; it closes at its max_lifetime.
  const std::vector<detail::PooledConnection*> idle_snapshot = books_->idle();
  for (detail::PooledConnection* connection : idle_snapshot) {
    if (connection->channel().context() != tls_) remove_locked(*connection, CloseReason::tls_reload, deferred);
  }
  for (auto& connection : books_->live()) {
    if (connection->state_ == detail::ConnectionState::leased && connection->channel().context() != tls_) {
      retire_locked(*connection, detail::RetireReason::tls_reload, deferred);
    }
  }
  top_up_locked(deferred);
}

std::optional<ConfigError> SecureChannelPool::reload_tls() {
  // The options in force: a reload with other options (below) may have replaced config().tls's.
  return reload_tls(tls_context()->options());
}

std::optional<ConfigError> SecureChannelPool::reload_tls(TlsOptions options) {
  if (options.enabled != config_.tls.enabled) {
    // The scheme is the pool's identity (status, metrics, the URLs its callers send).
    ConfigError refused("tls", "a running pool cannot switch between TLS and plain TCP: build a new pool");
    log(LogLevel::warn, 0, "reload for " + config_.endpoint + " refused: " + refused.what());
    return refused;
  }
  if (!options.enabled) {
    // No material to reload; the protocol a plain connection speaks is fixed with the pool.
    if (options.http2_prior_knowledge == tls_context()->options().http2_prior_knowledge) return std::nullopt;
    ConfigError refused("http2_prior_knowledge", "a running plain pool keeps its protocol: build a new pool");
    log(LogLevel::warn, 0, "reload for " + config_.endpoint + " refused: " + refused.what());
    return refused;
  }
  // Files are read outside the lock: acquires must not wait for a slow disk.
  std::optional<ConfigError> problem;
  std::shared_ptr<const ClientTlsContext> replacement = ClientTlsContext::create(options, problem);
  std::shared_ptr<const ClientTlsContext> previous;
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->started && replacement) {
      replacement.reset();
      problem.emplace("pool", "is shutting down");
    }
    if (replacement) {
      ++counters_.tls_reloads;
      previous = std::exchange(tls_, std::move(replacement));
      retire_old_material_locked(deferred);
    } else {
      ++counters_.tls_reload_failures;
    }
  }
  run(deferred);
  // `previous` lives on in the connections made with it, and is freed with the last of them.
  if (problem) {
    log(LogLevel::warn, 0,
        "TLS reload for " + config_.endpoint + " failed, the previous material stays in use: " + problem->what());
    return problem;
  }
  log(LogLevel::info, 0,
      "TLS material for " + config_.endpoint + " reloaded; new connections use it, open ones drain and close");
  return std::nullopt;
}

}  // namespace securechannel
