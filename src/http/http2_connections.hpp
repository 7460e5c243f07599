// Http2Connections: the HTTP/2 sessions an HttpClient hands out streams from, in the order they
// opened. A stream goes to the first session with a free slot, so connections fill in order and a
// new one opens only when every open one is full (or draining).
//
//   connections.add(Http2Session::start(std::move(lease), options, strand));
//   if (auto session = connections.reserve_stream()) session->submit(...);
//   connections.forget_closed();        // before counting: a closed one holds no connection
//   if (connections.accepting() < max_connections) open_another();
//
// A session the pool asked back (Lease::on_retire) while it is the only one taking streams keeps
// taking them until its replacement is open: retire_when_replaced() notes it, retire_replaced()
// drains it once the replacement came (or could not come).
//
// Threads: the client uses it on its strand, and its stats() from any thread: the list has its
// own mutex. The sessions waiting for a replacement are the strand's alone.
#pragma once

#include "http/http2_session.hpp"
#include "securechannel/http_client_stats.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace securechannel::detail {

class Http2Connections {
 public:
  using SessionPointer = std::shared_ptr<Http2Session>;

  void add(SessionPointer session);
  // The first session that takes one more stream, with that stream's slot reserved; null when
  // none does.
  SessionPointer reserve_stream();
  // The session on this pool connection (an affinity key's), with a stream's slot reserved; null
  // when it has none free (`full` then says whether it takes streams once one frees) or it is
  // not ours, or gone.
  SessionPointer reserve_stream_on(std::uint64_t connection_id, bool& full);
  // Drops the closed sessions (their connections went back to the pool), keeping their count of
  // GOAWAY frames received.
  void forget_closed();

  std::size_t size() const;
  // Sessions that take new streams (open, no GOAWAY, not draining).
  std::size_t accepting() const;
  // Whether a session other than `session` takes new streams.
  bool another_accepts(const SessionPointer& session) const;
  // Whether a session that takes no new streams still holds its connection (its last streams
  // are running).
  bool draining_open() const;

  // Strand only.
  void retire_when_replaced(const SessionPointer& session);
  void retire_replaced();

  // Every session: GOAWAY and close once its streams are done, or close now.
  void shutdown(bool abort_streams);
  // Lets go of every session without a word to them (see HttpClientCore::abandon_sessions).
  std::vector<SessionPointer> take_all() noexcept;
  // Fills the HTTP/2 part of `stats`: GOAWAYs received and one row per session.
  void add_to(HttpClientStats& stats) const;

 private:
  mutable std::mutex mutex_;
  std::vector<SessionPointer> sessions_;
  std::uint64_t goaways_of_closed_sessions_ = 0;
  std::vector<std::weak_ptr<Http2Session>> retire_when_replaced_;  // strand only
};

}  // namespace securechannel::detail
