// Http2ClientCodec: the nghttp2 session's making and the stream table. The callbacks, which
// turn frames into stream events, are in http2_session_callbacks.cpp.
#include "http/http2_client_codec.hpp"

#include "http/http2_session_stream.hpp"

#include <nghttp2/nghttp2.h>

#include <iterator>

namespace securechannel::detail {

void Http2ClientCodec::NghttpDeleter::operator()(nghttp2_session* session) const noexcept {
  nghttp2_session_del(session);
}

Http2ClientCodec::Http2ClientCodec(Owner& owner) noexcept : owner_(owner) {}

Http2ClientCodec::~Http2ClientCodec() { close(); }

bool Http2ClientCodec::open(std::uint32_t stream_window, std::uint32_t connection_window,
                            std::uint32_t assumed_peer_max_concurrent_streams, std::string_view scheme) {
  scheme_ = scheme;
  nghttp2_session* session = nullptr;
  if (!Callbacks::make_client_session(&session, this, assumed_peer_max_concurrent_streams)) return false;
  session_.reset(session);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
      // Advisory (RFC 9113 6.5.2): each stream enforces its request's max_response_header_bytes.
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
  };
  return nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings)) == 0 &&
         nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<std::int32_t>(connection_window)) == 0;
}

std::int32_t Http2ClientCodec::submit(std::unique_ptr<Http2Stream>& stream) {
  // nghttp2 copies them on submit.
  const Http2RequestHeaders headers(*stream->request, scheme_, stream->source_reader.has_value());
  nghttp2_data_provider body{};
  body.source.ptr = stream.get();
  body.read_callback = &Callbacks::read_request_body;
  const bool has_body = stream->source_reader || !stream->request->body().empty();
  const std::int32_t id = nghttp2_submit_request(session_.get(), nullptr, headers.data(), headers.size(),
                                                 has_body ? &body : nullptr, stream.get());
  if (id >= 0) streams_.emplace(id, std::move(stream));
  return id;
}

void Http2ClientCodec::close() noexcept {
  session_.reset();  // before streams_: its data providers point into them
  streams_.clear();
}

}  // namespace securechannel::detail
