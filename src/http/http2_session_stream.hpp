// Private to Http2ClientCodec and its owner: one request stream, and the nghttp2 callbacks that
// feed it.
#pragma once

#include "http/body_sink_writer.hpp"
#include "http/body_source_reader.hpp"
#include "http/http2_client_codec.hpp"
#include "http/http2_headers.hpp"

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace securechannel::detail {

struct Http2Stream {
  Http2Stream(std::shared_ptr<const HttpRequest> request_to_send, HttpRequestOptions options,
              std::chrono::steady_clock::time_point stream_deadline, Http2ResponseHandler response_handler)
      : request(std::move(request_to_send)),
        max_response_body(options.max_response_body),
        max_response_header_bytes(options.max_response_header_bytes),
        decode_content(options.decode_content),
        body_sink(std::move(options.body_sink)),
        body_source(std::move(options.body_source)),
        handler(std::move(response_handler)),
        deadline(stream_deadline),
        created(std::chrono::steady_clock::now()) {
    if (body_source) source_reader.emplace(body_source, BodySourceReader::declared_length(*request));
  }

  std::shared_ptr<const HttpRequest> request;  // the data provider reads its body while the stream is open
  std::size_t body_sent = 0;
  std::size_t max_response_body;
  std::size_t max_response_header_bytes;
  bool decode_content;
  HttpBodySink body_sink;                     // empty: the body is collected in `response`
  std::optional<BodySinkWriter> sink_writer;  // with body_sink, once the final headers came
  HttpBodySource body_source;                 // empty: the request's string body is sent
  std::optional<BodySourceReader> source_reader;  // with body_source
  Http2ResponseBuilder response;
  Http2ResponseHandler handler;  // empty once the stream has completed (Owner::finish())
  bool handler_on_session_strand = false;  // Http2Session::HandlerRuns::on_session_strand
  std::chrono::steady_clock::time_point deadline;  // time_point::max(): none
  std::chrono::steady_clock::time_point created;   // the response's time to first byte counts from here
  std::chrono::steady_clock::time_point first_byte_at{};  // the response's first HEADERS frame began
  bool headers_sent = false;      // nghttp2 produced our HEADERS: the peer may process the request
  bool response_complete = false; // END_STREAM received
  bool response_started = false;  // a HEADERS frame of the response began (interim ones too)
};

// nghttp2's C callbacks; user_data is the Http2ClientCodec. They never throw and never close the
// codec (close() deletes the nghttp2 session): they record, finish streams and submit frames.
struct Http2ClientCodec::Callbacks {
  // A client session with these callbacks; false when nghttp2 cannot allocate it.
  static bool make_client_session(nghttp2_session** session, Http2ClientCodec* codec,
                                  std::uint32_t assumed_peer_max_concurrent_streams) noexcept;
  // Our stream for an open nghttp2 stream (its stream_user_data), or null.
  static Http2Stream* stream_of(nghttp2_session* session, std::int32_t stream_id);

  static ssize_t read_request_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buffer,
                                   std::size_t length, std::uint32_t* data_flags, nghttp2_data_source* source,
                                   void* user_data);
  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                       std::uint8_t flags, void* user_data);
  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* user_data);
  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame, int library_error,
                               void* user_data);
  static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                             void* user_data);
};

}  // namespace securechannel::detail
