// A hostile server's HTTP/2 bytes through our client codec (Http2ClientCodec: nghttp2's client
// session with our callbacks, http2_session_callbacks.cpp, and http2_headers.cpp's response
// builder), driven as Http2Session drives it: open, one to three requests submitted (with a
// string body, a body source, a body sink that decodes gzip/deflate/br, as the input says),
// then the server's bytes fed to nghttp2_session_mem_recv in pieces the input chooses, with
// what nghttp2 wants to send taken after each (SETTINGS ACK, WINDOW_UPDATE, RST_STREAM, our
// DATA). At the end the streams still open fail as Http2Session::end() fails them.
// Checked: no crash, leak, UB; every stream finished exactly once; errors are ours; a complete
// response is final (status >= 200), within max_response_body (what reached the sink too), and
// its header fields, counted as the limit counts them (name + value + 32), are within both
// what the stream accounted for and max_response_header_bytes.
// Input: 4 bytes of settings (see Settings), then the server's bytes (its SETTINGS first).
#include "http/http2_client_codec.hpp"
#include "http/http2_session_stream.hpp"
#include "securechannel/error.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace securechannel;
using namespace securechannel::detail;
using boost::system::error_code;
namespace http = boost::beast::http;

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "http2_frames_fuzzer: %s\n", why);
  std::abort();
}
#define CHECK(condition) \
  if (!(condition)) fail(#condition)

struct Settings {
  std::size_t streams = 1;
  bool string_body = false;    // stream 1 sends 100 bytes from the request's body
  bool source_body = false;    // stream 3 sends its body from a body source
  bool sink = false;           // stream 3 (or 1) hands its response to a decoding body sink
  bool sink_stops = false;     // ... which says stop after 64 bytes
  std::size_t max_response_header_bytes = 0;
  std::size_t max_response_body = 0;
  std::uint8_t split_seed = 0;
};

Settings settings_from(const std::uint8_t* data) {
  Settings settings;
  settings.streams = 1 + (data[0] & 0x03) % 3;
  settings.string_body = (data[0] & 0x04) != 0;
  settings.source_body = (data[0] & 0x08) != 0;
  settings.sink = (data[0] & 0x10) != 0;
  settings.sink_stops = (data[0] & 0x20) != 0;
  settings.max_response_header_bytes = 64 + std::size_t{data[1]} * 16;
  settings.max_response_body = data[2] == 0xff ? HttpRequestOptions{}.max_response_body : std::size_t{data[2]} * 16;
  settings.split_seed = data[3];
  return settings;
}

// The owner, as Http2Session is one, minus the I/O: records each stream's outcome.
class Owner final : public Http2ClientCodec::Owner {
 public:
  struct Outcome {
    std::size_t finished = 0;  // times finish() found the handler set
    error_code error;
    HttpResponse response;
  };
  std::map<const Http2Stream*, Outcome> outcomes;

  void finish(Http2Stream& stream, const error_code& error) override {
    if (!stream.handler) return;  // as Http2Session::finish: once per stream
    Outcome& outcome = outcomes[&stream];
    ++outcome.finished;
    outcome.error = error;
    CHECK(!error || error.category() == securechannel_category());
    if (!error) {
      CHECK(stream.response_complete && stream.response.has_final_headers());
      HttpResponse& response = stream.response.response();
      CHECK(response.result_int() >= 200 && response.result_int() <= 999);
      CHECK(response.body().size() <= stream.max_response_body);
      std::size_t counted = 0;
      for (const auto& field : response) counted += field.name_string().size() + field.value().size() + 32;
      CHECK(counted <= stream.response.header_list_bytes());
      CHECK(stream.response.header_list_bytes() <= stream.max_response_header_bytes);
      outcome.response = std::move(response);
    }
    Http2ResponseHandler handler = std::move(stream.handler);
    stream.handler = {};
    std::move(handler)(error, HttpResponse{}, stream.response_started);
  }
  void on_peer_settings(std::uint32_t) override {}
  void on_goaway_received() override {}
  void on_ping_ack() override {}
};

// What nghttp2 wants to write, as Http2Session::flush takes it. False on a fatal error.
bool take_output(nghttp2_session* session) {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto size = nghttp2_session_mem_send(session, &data);
    if (size < 0) return false;
    if (size == 0) return true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t settings_size = 4;
  if (size < settings_size) return 0;
  const Settings settings = settings_from(data);
  std::string_view server(reinterpret_cast<const char*>(data + settings_size), size - settings_size);

  Owner owner;
  Http2ClientCodec codec(owner);
  CHECK(codec.open(1u << 20, 16u << 20, 100, "https"));

  std::size_t sink_bytes = 0, source_calls = 0;
  std::vector<const Http2Stream*> submitted;
  for (std::size_t i = 0; i < settings.streams; ++i) {
    auto request = std::make_shared<HttpRequest>(i == 0 && settings.string_body ? http::verb::post : http::verb::get,
                                                 "/stream/" + std::to_string(i), 11);
    request->set(http::field::host, "upstream.example");
    HttpRequestOptions options;
    options.max_response_header_bytes = settings.max_response_header_bytes;
    options.max_response_body = settings.max_response_body;
    const bool last = i + 1 == settings.streams;
    if (i == 0 && settings.string_body) request->body() = std::string(100, 'b');
    if (last && settings.source_body && i != 0) {
      options.body_source = [&source_calls](std::span<char> buffer) -> std::optional<std::size_t> {
        if (source_calls++ >= 3 || buffer.size() < 10) return 0;
        std::fill_n(buffer.data(), 10, 's');
        return 10;
      };
    }
    if (last && settings.sink) {
      options.decode_content = true;
      options.body_sink = [&sink_bytes, stops = settings.sink_stops](std::string_view piece) {
        sink_bytes += piece.size();
        return !stops || sink_bytes < 64;
      };
    }
    auto stream = std::make_unique<Http2Stream>(std::move(request), std::move(options),
                                                std::chrono::steady_clock::time_point::max(),
                                                [](error_code, HttpResponse, bool) {});
    const Http2Stream* pointer = stream.get();
    CHECK(codec.submit(stream) > 0);
    submitted.push_back(pointer);
  }
  CHECK(take_output(codec.session()));  // preface, SETTINGS, the requests

  // The server's bytes in pieces of 1 to 64 bytes, their sizes drawn from the seed.
  std::uint32_t state = settings.split_seed | 0x100u;
  while (!server.empty()) {
    state = state * 1103515245u + 12345u;
    const std::size_t piece = std::min<std::size_t>(server.size(), 1 + (state >> 16) % 64);
    const auto consumed =
        nghttp2_session_mem_recv(codec.session(), reinterpret_cast<const std::uint8_t*>(server.data()), piece);
    if (consumed < 0) break;  // fatal: Http2Session fails the connection
    CHECK(static_cast<std::size_t>(consumed) == piece);
    server.remove_prefix(piece);
    if (!take_output(codec.session())) break;
    if (nghttp2_session_want_read(codec.session()) == 0 && nghttp2_session_want_write(codec.session()) == 0) break;
  }

  // As Http2Session::end(): what is still open fails, then the codec goes.
  for (auto& [id, stream] : codec.streams()) owner.finish(*stream, make_error_code(errc::connection_closed));
  codec.close();

  static const bool debug = std::getenv("SC_FUZZ_DEBUG") != nullptr;  // what each seed does
  for (const Http2Stream* stream : submitted) {
    const auto found = owner.outcomes.find(stream);
    CHECK(found != owner.outcomes.end());
    CHECK(found->second.finished == 1);
    if (debug) {
      std::fprintf(stderr, "stream: %s, status %u, %zu body bytes\n", found->second.error.message().c_str(),
                   found->second.response.result_int(), found->second.response.body().size());
    }
  }
  if (settings.sink) CHECK(sink_bytes <= settings.max_response_body);
  return 0;
}
