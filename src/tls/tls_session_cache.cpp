#include "tls/tls_session_cache.hpp"

#include <openssl/ssl.h>

#include <ctime>

namespace securechannel::detail {
namespace {

// After this many waits that brought no ticket, stop waiting: the server does not issue them.
constexpr int max_unanswered_waits = 3;

bool expired(const SSL_SESSION* session, std::time_t now) {
  return now >= static_cast<std::time_t>(SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session));
}

}  // namespace

TlsSessionCache::~TlsSessionCache() { clear(); }

const std::string* TlsSessionCache::intern(const std::string& server) {
  std::lock_guard lock(mutex_);
  // Node-based map: a key's address survives rehashing. Entries are never erased before clear(),
  // which only the destructor calls.
  return &servers_.try_emplace(server).first->first;
}

void TlsSessionCache::offer(const std::string& server, SSL_SESSION* session) {
  SSL_SESSION* evicted = nullptr;
  {
    std::lock_guard lock(mutex_);
    ServerTickets& entry = servers_[server];
    entry.unanswered_waits = 0;
    ++entry.received;
    entry.tickets.push_back(session);
    if (entry.tickets.size() > tickets_per_server_) {
      evicted = entry.tickets.front();
      entry.tickets.pop_front();
    }
  }
  SSL_SESSION_free(evicted);  // outside the lock; accepts nullptr
}

SSL_SESSION* TlsSessionCache::take(const std::string& server) {
  const std::time_t now = std::time(nullptr);
  std::deque<SSL_SESSION*> stale;
  SSL_SESSION* chosen = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto found = servers_.find(server);
    if (found == servers_.end()) return nullptr;
    auto& tickets = found->second.tickets;
    while (!tickets.empty() && chosen == nullptr) {
      SSL_SESSION* newest = tickets.back();
      tickets.pop_back();
      if (expired(newest, now) || SSL_SESSION_is_resumable(newest) != 1) {
        stale.push_back(newest);
      } else {
        chosen = newest;
      }
    }
  }
  for (SSL_SESSION* session : stale) SSL_SESSION_free(session);
  return chosen;
}

bool TlsSessionCache::wants_tickets(const std::string& server) const {
  std::lock_guard lock(mutex_);
  auto found = servers_.find(server);
  if (found == servers_.end()) return true;
  // Below half full rather than empty: a warm-up opens connections several at a time and each
  // takes a ticket, so waiting only when none is left would leave every other burst without.
  return found->second.tickets.size() < (tickets_per_server_ + 1) / 2 &&
         found->second.unanswered_waits < max_unanswered_waits;
}

void TlsSessionCache::record_ticket_wait(const std::string& server, bool received) {
  std::lock_guard lock(mutex_);
  ServerTickets& entry = servers_[server];
  entry.unanswered_waits = received ? 0 : entry.unanswered_waits + 1;
}

std::uint64_t TlsSessionCache::tickets_received(const std::string& server) const {
  std::lock_guard lock(mutex_);
  auto found = servers_.find(server);
  return found == servers_.end() ? 0 : found->second.received;
}

void TlsSessionCache::clear() {
  std::unordered_map<std::string, ServerTickets> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(servers_);
  }
  for (auto& [server, entry] : dropped) {
    for (SSL_SESSION* session : entry.tickets) SSL_SESSION_free(session);
  }
}

std::uint64_t TlsSessionCache::tickets_received_total() const {
  std::lock_guard lock(mutex_);
  std::uint64_t total = 0;
  for (const auto& [server, entry] : servers_) total += entry.received;
  return total;
}

std::size_t TlsSessionCache::size() const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (const auto& [server, entry] : servers_) total += entry.tickets.size();
  return total;
}

}  // namespace securechannel::detail
