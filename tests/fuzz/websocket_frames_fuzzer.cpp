// A hostile server's WebSocket frames, read by a client stream set up as WebSocketSession sets
// up each of its streams (setup_client_stream: read_message_max, timeouts, User-Agent, the
// control-frame counters), over Beast's in-memory test stream after a real opening handshake.
// The client reads messages as the session's reader does until the stream fails or ends.
// Checked: no crash, leak, UB or hang; every message within max_message_size, text messages
// valid UTF-8 once the session's check on them passed (ends_inside_code_point: Beast 1.81 lets a
// cut code point through when a message ends with an empty frame); control frames counted only
// as they arrive.
// Input: 2 bytes of settings (the most one read takes; the message size limit), then the
// server's bytes after its 101 response.
#include "http/websocket_stream_setup.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using ClientStream = websocket::stream<beast::test::stream, false>;  // no permessage-deflate, as ours

// Well-formed UTF-8 (RFC 3629): what a text message must be.
bool is_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xe0) == 0xc0) {
      length = 2, code = byte & 0x1f;
    } else if ((byte & 0xf0) == 0xe0) {
      length = 3, code = byte & 0x0f;
    } else if ((byte & 0xf8) == 0xf0) {
      length = 4, code = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = code << 6 | (next & 0x3f);
    }
    const std::uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < shortest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

// Runs what is ready until `done`; false when nothing is left to run before that (a hang).
template <class Done>
bool run_until(asio::io_context& io, Done done) {
  while (!done()) {
    io.restart();
    if (io.poll() == 0 && !done()) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t read_size = data[0] == 0 ? SIZE_MAX : data[0];
  securechannel::WebSocketClientOptions options;
  if (data[1] != 0) options.max_message_size = std::size_t{data[1]} * 8;
  const std::string_view frames(reinterpret_cast<const char*>(data + 2), size - 2);

  asio::io_context io;
  beast::test::stream client_end(io);
  beast::test::stream server_end(io);
  client_end.connect(server_end);
  securechannel::detail::Counters counters;
  ClientStream client(std::move(client_end));
  securechannel::detail::setup_client_stream(client, options, counters);
  websocket::stream<beast::test::stream, false> server(std::move(server_end));

  websocket::response_type upgrade;
  bool handshaken = false, accepted = false;
  error_code handshake_error, accept_error;
  client.async_handshake(upgrade, "upstream.example", "/v1/stream", [&](error_code error) {
    handshake_error = error;
    handshaken = true;
  });
  server.async_accept([&](error_code error) {
    accept_error = error;
    accepted = true;
  });
  if (!run_until(io, [&] { return handshaken && accepted; }) || handshake_error || accept_error) std::abort();
  if (upgrade.result_int() != 101) std::abort();

  // From here on the server is whatever the input says: its bytes, then the end of the stream.
  client.next_layer().read_size(read_size);
  asio::write(server.next_layer(), asio::buffer(frames.data(), frames.size()));
  server.next_layer().close();

  beast::flat_buffer buffer;
  std::uint64_t pings_before = 0, pongs_before = 0;
  for (std::size_t messages = 0;; ++messages) {
    if (messages > frames.size()) std::abort();  // each message takes at least a frame header
    bool read = false;
    error_code error;
    buffer.clear();
    client.async_read(buffer, [&](error_code read_error, std::size_t) {
      error = read_error;
      read = true;
    });
    if (!run_until(io, [&] { return read; })) std::abort();  // the end of the stream must end the read
    const auto pings = counters.pings_received.load(), pongs = counters.pongs_received.load();
    if (pings + pongs - pings_before - pongs_before > frames.size() / 2) std::abort();  // 2 bytes at least each
    pings_before = pings, pongs_before = pongs;
    if (error) break;
    const std::string payload = beast::buffers_to_string(buffer.data());
    if (payload.size() > options.max_message_size) std::abort();
    // The session's own check; it ends the connection as Beast's bad_frame_payload does.
    if (client.got_text() && securechannel::detail::ends_inside_code_point(payload)) break;
    if (client.got_text() && !is_utf8(payload)) std::abort();
  }
  return 0;
}
