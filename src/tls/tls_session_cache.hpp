// TLS 1.3 session tickets a client context received, kept for resuming later connections to the
// same server. Tickets are single-use (RFC 8446 C.4: reuse lets an observer link connections), so
// `take` removes the ticket it returns; a few are kept per server because a busy pool opens
// connections faster than one connection receives tickets.
//
// Only tickets from handshakes that passed verification arrive here (OpenSSL calls its new-session
// callback after the handshake succeeded), and they are looked up by the exact name and port that
// connection verified: a resumed connection inherits that verification instead of repeating it.
#pragma once

#include "securechannel/detail/ticket_destination.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

struct ssl_session_st;

namespace securechannel::detail {

class TlsSessionCache {
 public:
  explicit TlsSessionCache(std::size_t tickets_per_server) : tickets_per_server_(tickets_per_server) {}
  ~TlsSessionCache();
  TlsSessionCache(const TlsSessionCache&) = delete;
  TlsSessionCache& operator=(const TlsSessionCache&) = delete;

  // The cache's own copy of `server`, stable for the cache's lifetime.
  const std::string* intern(const std::string& server);
  // Takes ownership of `session`. When the server's list is full the oldest ticket goes.
  void offer(const std::string& server, ssl_session_st* session);
  // The newest ticket that has not expired, owned by the caller (SSL_SESSION_free), or nullptr.
  ssl_session_st* take(const std::string& server);

  // True when a new connection to `server` should wait briefly for its tickets: fewer than half
  // the capacity is cached and the server has not left several such waits unanswered (some
  // servers issue none).
  bool wants_tickets(const std::string& server) const;
  // A wait for tickets ended; `received` says whether any arrived.
  void record_ticket_wait(const std::string& server, bool received);
  // Tickets ever offered for `server`: compared before and after a wait to see whether one came.
  std::uint64_t tickets_received(const std::string& server) const;

  void clear();
  std::size_t size() const;  // unused tickets, all servers
  std::uint64_t tickets_received_total() const;

 private:
  struct ServerTickets {
    std::deque<ssl_session_st*> tickets;  // oldest first
    int unanswered_waits = 0;
    std::uint64_t received = 0;
  };

  const std::size_t tickets_per_server_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ServerTickets> servers_;
};

}  // namespace securechannel::detail
