// Three ways to hold N idle, verified TLS 1.3 client connections to one upstream, each of which
// measures this process's resident memory while it does so: the securechannel pool, bare
// boost::asio::ssl::stream sockets, and raw OpenSSL on blocking sockets.
//
//   IdleTarget target{.host = "127.0.0.1", .port = "8443", .ca_file = ca, .connections = 1000};
//   IdleMemorySample pool = hold_idle_pool_connections(target, Establishment::concurrent);
//   double kb = pool.marginal_bytes_per_connection() / 1024;
//
// Each holder reads RSS after malloc_trim(0), so that freed heap counts for none of them: after
// its fixed setup (TLS context, pool object), after the first connection, and with all N
// connections up. The first connection pays one-time costs (Asio's resolver thread and its
// malloc arena, OpenSSL's lazily fetched algorithms), so the per-connection figure is the slope
// from connection 1 to N.
//
// How the connections are made changes the result by several KB per connection, because RSS
// counts touched pages, not live bytes: N handshakes at once interleave long-lived objects with
// their transient buffers on the heap. Both ways are measured.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace securechannel::bench {

struct IdleTarget {
  std::string host{};
  std::string port{};
  std::string ca_file{};
  std::size_t connections = 1000;
  std::chrono::seconds time_limit{60};  // for establishing all connections
};

enum class Establishment {
  concurrent,     // every connection started at once (the pool: warm_up() with min_idle = N)
  one_at_a_time,  // each connection started when the previous one is up
};

struct IdleMemorySample {
  std::size_t requested = 0;
  std::size_t established = 0;     // handshakes that completed
  std::size_t verified_tls13 = 0;  // of those: TLS 1.3, chain and IP SAN verified (X509_V_OK)
  std::size_t resumed = 0;         // of those: the handshake resumed a session (pool only)
  std::size_t connect_failures = 0;
  std::size_t rss_after_setup = 0;
  std::size_t rss_after_first = 0;
  std::size_t rss_after_all = 0;
  // Pool only (0 otherwise): after run_cleanup_once() probed every idle connection, which reads
  // the TLS 1.3 session tickets the server sent after the handshake. An idle pool that has run
  // for a while is in this state.
  std::size_t rss_after_probe = 0;
  // Diagnostic beside RSS: bytes malloc has handed out and not had back (mallinfo2: uordblks +
  // hblkhd, chunk headers included), read at the same points. RSS far above heap in use means
  // fragmentation (partly used pages); equal means every resident byte is a live allocation.
  std::size_t heap_after_first = 0;
  std::size_t heap_after_all = 0;
  std::size_t heap_after_probe = 0;  // pool only, like rss_after_probe
  // Diagnostic: RSS read just before the malloc_trim(0) of the first and the all-N readings, i.e.
  // what a process that never trims (the library does not) would show.
  std::size_t untrimmed_rss_after_first = 0;
  std::size_t untrimmed_rss_after_all = 0;
  double establish_seconds = 0;  // connection 2 to N
  std::string error{};           // empty when every connection was established and verified

  // (RSS with N - RSS with 1) / (N - 1): what one more idle connection costs.
  double marginal_bytes_per_connection() const;
  // (RSS with N - RSS before any) / N: the same, plus one-time costs spread over N.
  double average_bytes_per_connection() const;
  // The marginal cost once every connection has been probed; 0 when not measured.
  double probed_bytes_per_connection() const;
  // (heap in use with N - with 1) / (N - 1): the live allocations behind marginal_bytes_per_connection().
  double marginal_heap_bytes_per_connection() const;
  double probed_heap_bytes_per_connection() const;
  // The marginal cost from the untrimmed readings.
  double untrimmed_bytes_per_connection() const;
};

// A pool with max_connections = min_idle = N. concurrent: warm_up(); one_at_a_time: N acquires,
// each lease held until all are made, then all released.
IdleMemorySample hold_idle_pool_connections(const IdleTarget& target, Establishment establishment);
IdleMemorySample hold_idle_asio_ssl_streams(const IdleTarget& target, Establishment establishment);
// Blocking sockets: one at a time by nature.
IdleMemorySample hold_idle_raw_openssl_connections(const IdleTarget& target);

}  // namespace securechannel::bench
