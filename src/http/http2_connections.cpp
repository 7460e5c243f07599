#include "http/http2_connections.hpp"

#include <algorithm>
#include <utility>

namespace securechannel::detail {

void Http2Connections::add(SessionPointer session) {
  std::lock_guard lock(mutex_);
  sessions_.push_back(std::move(session));
}

Http2Connections::SessionPointer Http2Connections::reserve_stream() {
  std::lock_guard lock(mutex_);
  for (const auto& session : sessions_) {
    if (session->try_reserve_stream()) return session;
  }
  return nullptr;
}

Http2Connections::SessionPointer Http2Connections::reserve_stream_on(std::uint64_t connection_id, bool& full) {
  full = false;
  std::lock_guard lock(mutex_);
  for (const auto& session : sessions_) {
    if (session->connection_id() != connection_id) continue;
    if (session->try_reserve_stream()) return session;
    full = session->accepts_new_streams();
    return nullptr;
  }
  return nullptr;
}

void Http2Connections::forget_closed() {
  std::lock_guard lock(mutex_);
  std::erase_if(sessions_, [this](const SessionPointer& session) {
    if (!session->is_closed()) return false;
    goaways_of_closed_sessions_ += session->goaways_received();
    return true;
  });
}

std::size_t Http2Connections::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

std::size_t Http2Connections::accepting() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(),
                                                [](const auto& session) { return session->accepts_new_streams(); }));
}

bool Http2Connections::another_accepts(const SessionPointer& session) const {
  std::lock_guard lock(mutex_);
  return std::any_of(sessions_.begin(), sessions_.end(),
                     [&](const auto& other) { return other != session && other->accepts_new_streams(); });
}

bool Http2Connections::draining_open() const {
  std::lock_guard lock(mutex_);
  return std::any_of(sessions_.begin(), sessions_.end(),
                     [](const auto& session) { return !session->is_closed() && !session->accepts_new_streams(); });
}

void Http2Connections::retire_when_replaced(const SessionPointer& session) {
  retire_when_replaced_.push_back(session);
}

void Http2Connections::retire_replaced() {
  for (const auto& replaced : std::exchange(retire_when_replaced_, {})) {
    if (auto session = replaced.lock()) session->retire();
  }
}

void Http2Connections::shutdown(bool abort_streams) {
  std::lock_guard lock(mutex_);
  for (const auto& session : sessions_) abort_streams ? session->close() : session->shutdown();
}

std::vector<Http2Connections::SessionPointer> Http2Connections::take_all() noexcept {
  std::lock_guard lock(mutex_);
  return std::exchange(sessions_, {});
}

void Http2Connections::add_to(HttpClientStats& stats) const {
  std::lock_guard lock(mutex_);
  stats.goaways = goaways_of_closed_sessions_;
  for (const auto& session : sessions_) {
    stats.goaways += session->goaways_received();
    stats.http2_connections.push_back({.connection_id = session->connection_id(),
                                       .streams_in_flight = session->streams_in_flight(),
                                       .peer_max_concurrent_streams = session->peer_max_concurrent_streams(),
                                       .streams_started = session->streams_started(),
                                       .draining = !session->accepts_new_streams()});
  }
}

}  // namespace securechannel::detail
