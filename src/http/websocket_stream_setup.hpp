// What a WebSocketSession gives each client stream before its handshake, and the check it adds
// to Beast's on each text message, for any layer under the stream: the Lease in the library,
// Beast's test stream in tests/fuzz/websocket_frames_fuzzer.cpp (which reads a hostile server's
// frames through a stream set up exactly so). Includes Beast's WebSocket: only the session's two
// translation units and that fuzzer may include it.
//
//   WebSocketStream stream(std::move(lease));
//   setup_client_stream(stream, options, counters);   // then async_handshake
//   ...
//   if (stream.got_text() && ends_inside_code_point(payload)) fail(bad_frame_payload);
#pragma once

#include "securechannel/websocket_client.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace securechannel::detail {

// A session's counters, across its reconnects: WebSocketStats is a snapshot of them.
struct Counters {
  std::atomic<std::uint64_t> messages_sent{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> messages_received{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> reconnect_failures{0};
  std::atomic<std::uint64_t> connections_lost{0};
  std::atomic<std::uint64_t> pings_received{0};
  std::atomic<std::uint64_t> pongs_received{0};
  std::atomic<std::int64_t> last_reconnect_delay_ms{0};
  std::atomic<bool> connected{false};
};

inline void add(std::atomic<std::uint64_t>& counter, std::uint64_t value = 1) {
  counter.fetch_add(value, std::memory_order_relaxed);
}

// The message size limit, the handshake and keep-alive timeouts, the User-Agent of the upgrade
// request, and the count of the peer's control frames (into `counters`, which must outlive the
// stream's reads).
template <class NextLayer, bool deflateSupported>
void setup_client_stream(boost::beast::websocket::stream<NextLayer, deflateSupported>& stream,
                         const WebSocketClientOptions& options, Counters& counters) {
  namespace websocket = boost::beast::websocket;
  stream.read_message_max(options.max_message_size);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = options.handshake_timeout;
  const bool keep_alive = options.idle_timeout.count() > 0;
  timeouts.idle_timeout =
      keep_alive ? std::chrono::steady_clock::duration(options.idle_timeout) : websocket::stream_base::none();
  timeouts.keep_alive_pings = keep_alive;
  stream.set_option(timeouts);
  stream.set_option(websocket::stream_base::decorator([user_agent = options.user_agent](websocket::request_type& request) {
    request.set(boost::beast::http::field::user_agent, user_agent);
  }));
  // Runs inside the stream's reads.
  stream.control_callback([counters = &counters](websocket::frame_type kind, boost::beast::string_view) {
    if (kind == websocket::frame_type::ping) add(counters->pings_received);
    if (kind == websocket::frame_type::pong) add(counters->pongs_received);
  });
}

// Whether `text` ends inside a multi-byte UTF-8 sequence. Beast 1.81 validates the bytes of
// every text frame as they arrive but checks that the message ends on a whole code point only
// when its last frame carries bytes: a text message whose last frame is empty ("\xe2", then an
// empty FIN continuation) reaches the reader cut (found by the fuzzer above). Everything before
// the end Beast has checked, so only the end is looked at here.
inline bool ends_inside_code_point(std::string_view text) noexcept {
  std::size_t continuation_bytes = 0;
  for (auto it = text.rbegin(); it != text.rend() && continuation_bytes < 4; ++it) {
    const auto byte = static_cast<unsigned char>(*it);
    if ((byte & 0xc0) == 0x80) {
      ++continuation_bytes;
      continue;
    }
    const std::size_t length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return continuation_bytes + 1 < length;
  }
  return continuation_bytes != 0;
}

}  // namespace securechannel::detail
