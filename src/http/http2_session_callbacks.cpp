// nghttp2's callbacks for Http2ClientCodec: frames become stream events here. They run inside
// nghttp2_session_mem_recv/mem_send (Http2Session: on its strand).
#include "http/http2_session_stream.hpp"
#include "securechannel/error.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace securechannel::detail {
namespace {

std::string_view view(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

bool ends_stream(const nghttp2_frame& frame) { return (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0; }

}  // namespace

Http2Stream* Http2ClientCodec::Callbacks::stream_of(nghttp2_session* session, std::int32_t stream_id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
}

bool Http2ClientCodec::Callbacks::make_client_session(nghttp2_session** session, Http2ClientCodec* codec,
                                                      std::uint32_t assumed_peer_max_concurrent_streams) noexcept {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, &on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &on_stream_close);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  // Until the peer's SETTINGS say otherwise; nghttp2 queues streams above the limit.
  nghttp2_option_set_peer_max_concurrent_streams(option, assumed_peer_max_concurrent_streams);
  // Floods a hostile server could send, each bounded by nghttp2 (these are its defaults since
  // the 2023-2024 advisories, which Debian 12's 1.52 carries; set here so they are ours too): a
  // header block split into more than 8 CONTINUATION frames, SETTINGS with more than 32
  // entries, and more than 1000 queued ACKs (PING/SETTINGS floods) end the session.
  nghttp2_option_set_max_continuations(option, 8);
  nghttp2_option_set_max_settings(option, 32);
  nghttp2_option_set_max_outbound_ack(option, 1000);
  const int result = nghttp2_session_client_new2(session, callbacks, codec, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  return result == 0;
}

ssize_t Http2ClientCodec::Callbacks::read_request_body(nghttp2_session*, std::int32_t, std::uint8_t* buffer,
                                                       std::size_t length, std::uint32_t* data_flags,
                                                       nghttp2_data_source* source, void* user_data) {
  auto& stream = *static_cast<Http2Stream*>(source->ptr);
  if (stream.source_reader) {
    boost::system::error_code error;
    const std::size_t count = stream.source_reader->read({reinterpret_cast<char*>(buffer), length}, error);
    if (error) {
      static_cast<Http2ClientCodec*>(user_data)->owner_.finish(stream, error);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets this stream only
    }
    if (count == 0) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(count);
  }
  const std::string& body = stream.request->body();
  const std::size_t count = std::min(length, body.size() - stream.body_sent);
  std::memcpy(buffer, body.data() + stream.body_sent, count);
  stream.body_sent += count;
  if (stream.body_sent == body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(count);
}

int Http2ClientCodec::Callbacks::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (Http2Stream* stream = stream_of(session, frame->hd.stream_id)) {
    if (!stream->response_started) stream->first_byte_at = std::chrono::steady_clock::now();
    stream->response_started = true;
    stream->response.begin_block();
  }
  return 0;
}

int Http2ClientCodec::Callbacks::on_header(nghttp2_session* session, const nghttp2_frame* frame,
                                           const std::uint8_t* name, std::size_t name_length, const std::uint8_t* value,
                                           std::size_t value_length, std::uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Http2Stream* stream = stream_of(session, frame->hd.stream_id);
  if (!stream || !stream->handler) return 0;
  if (stream->response.header_list_bytes() + name_length + value_length + 32 > stream->max_response_header_bytes) {
    // Endless headers (or an HPACK bomb's expansion) stop here: the stream fails with its own
    // error and is reset; nothing more of its header block is kept.
    static_cast<Http2ClientCodec*>(user_data)->owner_.finish(*stream,
                                                             make_error_code(errc::response_headers_too_large));
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  try {
    if (stream->response.add_field(view(name, name_length), view(value, value_length))) return 0;
  } catch (const std::exception&) {  // allocation: fail this stream, not the session
  }
  // Resets the stream (PROTOCOL_ERROR); on_stream_close then reports http_protocol_error.
  return NGHTTP2_ERR_HTTP_HEADER;
}

int Http2ClientCodec::Callbacks::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  auto& self = *static_cast<Http2ClientCodec*>(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      Http2Stream* stream = stream_of(session, frame->hd.stream_id);
      if (!stream) break;
      if (frame->hd.type == NGHTTP2_HEADERS) {
        const bool was_final = stream->response.has_final_headers();
        stream->response.end_block();
        if (!was_final && stream->response.has_final_headers() && stream->handler) {
          if (stream->body_sink) {
            stream->sink_writer.emplace(
                stream->body_sink, stream->max_response_body,
                BodySinkWriter::coding_of(stream->response.response().base(), stream->decode_content));
          } else {
            try {
              stream->response.reserve_body(stream->max_response_body);
            } catch (const std::exception&) {  // a mere optimisation
            }
          }
        }
      }
      if (ends_stream(*frame)) {
        stream->response_complete = true;
        // The response is complete while our body is still going out: the server has no use for
        // the rest (RFC 9113 8.1), so stop sending it instead of waiting on its flow control.
        if (nghttp2_session_get_stream_local_close(session, frame->hd.stream_id) == 0) {
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
        }
      }
      break;
    }
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        self.owner_.on_peer_settings(
            nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
      }
      break;
    case NGHTTP2_GOAWAY:
      // nghttp2 then closes our streams above last_stream_id with REFUSED_STREAM itself.
      self.owner_.on_goaway_received();
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) self.owner_.on_ping_ack();
      break;
    default:
      break;
  }
  return 0;
}

int Http2ClientCodec::Callbacks::on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                                    const std::uint8_t* data, std::size_t length, void* user_data) {
  Http2Stream* stream = stream_of(session, stream_id);
  if (!stream || !stream->handler) return 0;  // completed already (timeout, too large): dropped
  // Ends the stream with `error`; CANCEL tells the server to send no more of it. The session
  // and its other streams go on.
  const auto cancel = [&](const boost::system::error_code& error) {
    static_cast<Http2ClientCodec*>(user_data)->owner_.finish(*stream, error);
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    return 0;
  };
  if (stream->body_sink) {
    // nghttp2 checks that DATA follows the final HEADERS, so the writer exists; never buffer.
    if (!stream->sink_writer) return cancel(errc::http_protocol_error);
    const boost::system::error_code error = stream->sink_writer->write(view(data, length));
    if (error) return cancel(error);
    return 0;
  }
  std::string& body = stream->response.response().body();
  if (length > stream->max_response_body - body.size()) return cancel(errc::response_too_large);
  try {
    body.append(reinterpret_cast<const char*>(data), length);
  } catch (const std::exception&) {
    return cancel(errc::response_too_large);
  }
  return 0;
}

int Http2ClientCodec::Callbacks::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (Http2Stream* stream = stream_of(session, frame->hd.stream_id)) stream->headers_sent = true;
  } else if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    static_cast<Http2ClientCodec*>(user_data)->sent_goaway_error_ = true;
  }
  return 0;
}

int Http2ClientCodec::Callbacks::on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame, int,
                                                   void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  // Our request never left (GOAWAY received meanwhile, or cancelled): the peer has not seen it.
  auto& self = *static_cast<Http2ClientCodec*>(user_data);
  const auto found = self.streams_.find(frame->hd.stream_id);
  if (found == self.streams_.end()) return 0;
  self.owner_.finish(*found->second, errc::stream_refused);
  // nghttp2 never opened the stream, so no on_stream_close follows to drop the entry.
  if (!nghttp2_session_find_stream(session, frame->hd.stream_id)) self.streams_.erase(found);
  return 0;
}

int Http2ClientCodec::Callbacks::on_stream_close(nghttp2_session*, std::int32_t stream_id,
                                                 std::uint32_t error_code, void* user_data) {
  auto& self = *static_cast<Http2ClientCodec*>(user_data);
  const auto found = self.streams_.find(stream_id);
  if (found == self.streams_.end()) return 0;
  Http2Stream& stream = *found->second;
  if (stream.response_complete && stream.response.has_final_headers()) {
    // Complete, even if the peer then reset the stream (RFC 9113 8.1); a streamed encoded body
    // must also have ended.
    self.owner_.finish(stream, stream.sink_writer ? stream.sink_writer->finish() : boost::system::error_code{});
  } else if (error_code == NGHTTP2_REFUSED_STREAM) {
    self.owner_.finish(stream, errc::stream_refused);  // also streams above a GOAWAY's last stream id
  } else {
    self.owner_.finish(stream, errc::http_protocol_error);
  }
  self.streams_.erase(found);
  return 0;
}

}  // namespace securechannel::detail
