/* securechannel.h: the C ABI of the securechannel library (C11; usable from C++, Go's cgo, and
 * anything that can call C). Opaque handles, plain data, no C++ types or exceptions across it.
 *
 *   sc_error error;
 *   sc_pool_config* config = sc_pool_config_new("relay.example:443");
 *   sc_pool_config_set_int(config, "max_connections", 16, &error);
 *   sc_pool_config_add_string(config, "tls.alpn", "h2", &error);
 *   sc_pool* pool = sc_pool_new(config, &error);      // NULL: error.name says why
 *   sc_pool_config_free(config);                       // the pool keeps its own copy
 *   sc_http_client* client = sc_http_client_new(pool, &error);
 *   sc_request request = {.method = "GET", .url = "https://relay.example/v1/status"};
 *   sc_response* response = sc_request_sync(client, &request, &error);
 *   if (response) { printf("%d\n", sc_response_status(response)); sc_response_free(response); }
 *   sc_http_client_free(client);
 *   sc_pool_free(pool);
 *
 * Threads. Every function may be called from any thread, at the same time as any other, except
 * on one handle after (or while) it is freed. The library runs its own I/O threads (one per pool
 * by default, "io_threads" below): a C caller never drives an event loop. Callbacks run on
 * those threads; they must not block, and must not call sc_request_sync or sc_pool_shutdown
 * (of any pool). Free every handle before the process exits, and let callbacks that free
 * handles return first: the I/O threads stop when their last handle goes.
 *
 * Memory. Every pointer a function returns says who frees it and with what:
 *   - handles (sc_pool_config*, sc_pool*, sc_http_client*, sc_response*): the caller, with the
 *     matching sc_*_free; each sc_*_free(NULL) does nothing;
 *   - char* from sc_pool_status_json / sc_pool_metrics_text: the caller, with sc_string_free;
 *   - const char* from sc_version, sc_last_error and the sc_response accessors: nobody; valid as
 *     documented at each (for the accessors: until the response is freed).
 * The library copies every string and buffer it is given before the call returns.
 *
 * Errors. A function that can fail returns NULL or a non-zero SC_E_* value and fills the
 * sc_error the caller passed (error may be NULL when the caller does not want it). In every
 * case the message is also kept for sc_last_error(), per thread.
 *
 * ABI. SC_ABI_VERSION counts additions. Within one major version (the SONAME's number)
 * functions and constants are only added, never changed or removed, and the layouts of
 * sc_error, sc_header and sc_request never change (new request options get new functions). Only sc_*
 * symbols are exported from libsecurechannel.so. */
#ifndef SECURECHANNEL_H
#define SECURECHANNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SC_ABI_VERSION 2 /* 2: request options (affinity keys) */

/* sc_error.code: what kind of failure; sc_error.name: which one exactly (stable names). */
enum {
  SC_OK = 0,
  SC_E_INVALID_ARGUMENT = 1, /* a NULL handle or field, a bad URL, a call from the wrong place */
  SC_E_CONFIG = 2,           /* a configuration mistake; message names the key (all of them) */
  SC_E_REQUEST = 3,          /* the connection or exchange failed; name as in the monitoring
                                JSON: "connect_refused", "certificate_verify_failed",
                                "request_timeout", "circuit_open", ... */
  SC_E_SHUT_DOWN = 4,        /* the pool or client is shutting down or shut down */
  SC_E_OUT_OF_MEMORY = 5,
  SC_E_INTERNAL = 6,         /* a bug in the library: please report it with the message */
  SC_E_CANCELLED = 7         /* sc_call_cancel ended the request ("cancelled") */
};

typedef struct sc_error {
  int code;           /* SC_OK or an SC_E_* value */
  char name[60];      /* "" on success; else a stable name such as "invalid_argument" */
  char message[448];  /* for people: what failed and why, OpenSSL's reason included */
} sc_error;           /* cut to fit, always NUL-terminated */

/* "0.1.0": the library's version. Static storage. */
const char* sc_version(void);

/* The message of the last failure on the calling thread ("" when none). Valid until the next
 * failing sc_* call on this thread. */
const char* sc_last_error(void);

/* ---- Pool configuration ------------------------------------------------------------------ *
 * Keys are those of a pool in a TOML pool file (docs/CONFIG.md), the TLS ones with a "tls."
 * prefix: "max_connections", "connect_timeout" (a duration text: "250ms", "5s"),
 * "tls.ca_file", "tls.alpn", "tls.pins", ... The setters record (a key's spelling is checked at
 * once, its value later); sc_pool_new and sc_pool_config_check check everything at once and
 * name every mistake. Plus one key of the C ABI's own: "io_threads" (sc_pool_config_set_int,
 * 1 to 64, default 1). A plain pool for http:// URLs: sc_pool_config_set_bool(config, "tls", 0)
 * (and "http2_prior_knowledge" for h2c); no "tls." key may be set beside it. */
typedef struct sc_pool_config sc_pool_config;

/* A configuration for `endpoint` ("host:port"). NULL when endpoint is NULL (or out of memory). */
sc_pool_config* sc_pool_config_new(const char* endpoint);
/* The pool named `pool_namespace` in a TOML pool file (NULL: its only pool). Its values are fixed:
 * setters on it fail, except "io_threads". NULL with SC_E_CONFIG naming file, line and key. */
sc_pool_config* sc_pool_config_load_file(const char* path, const char* pool_namespace, sc_error* error);
void sc_pool_config_free(sc_pool_config* config);

/* key = "value" (strings, durations, the TLS version "1.2"/"1.3"). */
int sc_pool_config_set_string(sc_pool_config* config, const char* key, const char* value, sc_error* error);
/* key = value (counts, ports). */
int sc_pool_config_set_int(sc_pool_config* config, const char* key, int64_t value, sc_error* error);
/* key = a fraction ("max_lifetime_jitter"). */
int sc_pool_config_set_double(sc_pool_config* config, const char* key, double value, sc_error* error);
/* key = true / false (value 0 is false). */
int sc_pool_config_set_bool(sc_pool_config* config, const char* key, int value, sc_error* error);
/* Appends a string to a list key ("tls.alpn", "tls.pins"). */
int sc_pool_config_add_string(sc_pool_config* config, const char* key, const char* value, sc_error* error);
/* SC_OK when sc_pool_new would accept it; otherwise SC_E_CONFIG naming every mistake. */
int sc_pool_config_check(const sc_pool_config* config, sc_error* error);

/* ---- Pool -------------------------------------------------------------------------------- */
typedef struct sc_pool sc_pool;

/* Builds the pool and starts its I/O threads and its cleanup task. Connections open on demand,
 * or ahead with sc_pool_warm_up. `config` may be freed afterwards. */
sc_pool* sc_pool_new(const sc_pool_config* config, sc_error* error);
/* Shuts the pool down with no grace (open connections close now; requests in flight fail) and
 * releases the handle. Its clients' handles stay valid, their requests failing with
 * SC_E_SHUT_DOWN. The I/O threads stop once the last handle using them is freed. */
void sc_pool_free(sc_pool* pool);
/* Opens connections up to min_idle now, without waiting for them. */
int sc_pool_warm_up(sc_pool* pool, sc_error* error);
/* Stops taking requests (its clients' too), lets connections in use finish for up to grace_ms,
 * closes the rest; returns when the pool is shut down. Requests made afterwards fail with
 * SC_E_SHUT_DOWN. Must not be called from a callback (SC_E_INVALID_ARGUMENT). */
int sc_pool_shutdown(sc_pool* pool, uint32_t grace_ms, sc_error* error);
/* The pool's status as the monitoring server's /status/connections answers it for this pool,
 * without the "http" object that server adds for an HttpClient it exports (JSON); NULL on
 * failure. Free with sc_string_free. */
char* sc_pool_status_json(sc_pool* pool, sc_error* error);
/* The pool's own series in Prometheus text (those the monitoring server's /metrics has for the
 * pool, without its HTTP client's and the server's). Free with sc_string_free. */
char* sc_pool_metrics_text(sc_pool* pool, sc_error* error);
void sc_string_free(char* text);

/* ---- HTTP client ------------------------------------------------------------------------- */
typedef struct sc_http_client sc_http_client;

/* HTTP/1.1 keep-alive or HTTP/2 multiplexing over the pool's connections, by ALPN. Holds the
 * pool: freeing the pool handle first is allowed. */
sc_http_client* sc_http_client_new(sc_pool* pool, sc_error* error);
/* Releases the handle at once. Requests in flight carry on (HTTP/2: the client sends GOAWAY and
 * lets its streams finish); their callbacks still run, once each, possibly after this returns. */
void sc_http_client_free(sc_http_client* client);

typedef struct sc_header {
  const char* name;
  const char* value;
} sc_header;

typedef struct sc_request {
  const char* method;        /* "GET", "POST", ...; NULL: "GET" */
  const char* url;           /* https://HOST[:PORT]/path?query: HOST and PORT those of the pool */
  const sc_header* headers;  /* header_count of them; not Host: it comes from the URL */
  size_t header_count;
  const void* body;          /* body_length bytes; NULL with 0: none */
  size_t body_length;
  uint32_t timeout_ms;       /* the whole exchange, connection wait and retries; 0: 30000 */
} sc_request;

typedef struct sc_response sc_response;

int sc_response_status(const sc_response* response); /* 200, 404, ...; 0 for NULL */
/* The protocol the response came by, major * 10 + minor: 20 (HTTP/2), 11 (HTTP/1.1), 10 (a
 * server answering HTTP/1.0); 0 for NULL. */
int sc_response_http_version(const sc_response* response);
/* How the response came (HttpExchangeInfo in http_message.hpp); 0 for NULL. The pool's id of the
 * connection that carried it (as in the status JSON's connections), whether that connection (an
 * HTTP/2 session) had carried a request before (1) or not (0), and how many times the request
 * was sent (more than 1 after a retry; the times are the last send's). */
uint64_t sc_response_connection_id(const sc_response* response);
int sc_response_reused(const sc_response* response);
unsigned sc_response_attempts(const sc_response* response);
/* Microseconds from the call (sc_request_*) until the request had its connection (HTTP/2: its
 * stream), until the first byte of the response, and until the whole response was in. */
uint64_t sc_response_acquire_us(const sc_response* response);
uint64_t sc_response_first_byte_us(const sc_response* response);
uint64_t sc_response_total_us(const sc_response* response);
size_t sc_response_header_count(const sc_response* response);
/* The index-th header field as received (0 <= index < count); SC_E_INVALID_ARGUMENT otherwise.
 * Name and value are NUL-terminated. */
int sc_response_header(const sc_response* response, size_t index, const char** name, const char** value);
/* The first field named `name` (any case), or NULL. */
const char* sc_response_header_value(const sc_response* response, const char* name);
/* The body; *length gets its size. Not NUL-terminated in general. */
const void* sc_response_body(const sc_response* response, size_t* length);
void sc_response_free(sc_response* response);

/* Sends the request and waits for the whole response. NULL with `error` set when no response
 * came (an HTTP error status is a response, not an error). Must not be called from a callback
 * (SC_E_INVALID_ARGUMENT): it would wait for the thread it runs on. */
sc_response* sc_request_sync(sc_http_client* client, const sc_request* request, sc_error* error);

/* Called exactly once per sc_request_async that returned SC_OK, on a library thread: with the
 * response (now the callback's to free) and error NULL, or with response NULL and the error. */
typedef void (*sc_response_callback)(void* user_data, sc_response* response, const sc_error* error);
/* Checks and copies the request, hands it to an I/O thread, which sends it, and returns at once.
 * SC_OK: the callback will run (with SC_E_SHUT_DOWN when the pool is shut down). Otherwise the
 * callback will not run and `error` says why (a NULL argument, a bad URL or header). */
int sc_request_async(sc_http_client* client, const sc_request* request, sc_response_callback callback,
                     void* user_data, sc_error* error);

/* A request started with sc_request_start, for cancelling it. */
typedef struct sc_call sc_call;
/* sc_request_async that also gives `*call`, a handle that can cancel the request. SC_OK: the
 * callback will run once, and `*call` is the caller's to free with sc_call_free, before or after
 * the callback ran (freeing does not cancel). Otherwise `*call` is NULL and the callback will not
 * run. */
int sc_request_start(sc_http_client* client, const sc_request* request, sc_response_callback callback,
                     void* user_data, sc_call** call, sc_error* error);
/* Cancels the request unless it has completed: its callback runs soon, on a library thread,
 * with SC_E_CANCELLED
 * ("cancelled"). An HTTP/1.1 request's connection is closed (the server may have seen the
 * request); an HTTP/2 stream is reset (RST_STREAM CANCEL) and its connection kept. Any thread,
 * callbacks included; never at the same time as sc_call_free of the same call. NULL does nothing. */
void sc_call_cancel(sc_call* call);
void sc_call_free(sc_call* call);

/* ---- Request options (SC_ABI_VERSION 2) -------------------------------------------------- *
 * Options beyond sc_request's, set on a handle of their own and passed to the _with forms. */
typedef struct sc_request_options sc_request_options;

/* Empty options; NULL only when out of memory. Free with sc_request_options_free (NULL: no-op). */
sc_request_options* sc_request_options_new(void);
void sc_request_options_free(sc_request_options* options);
/* Connection affinity (docs/POOL.md, "Connection affinity"): the request goes over the connection
 * this key has (HTTP/2: its session), and while that connection carries another request it
 * waits for it (up to the pool's acquire_timeout), unless may_move is non-zero: then it takes
 * another connection and the key moves. sc_response_affinity tells what the key got. NULL or ""
 * clears the key. A key longer than 256 bytes: SC_E_INVALID_ARGUMENT. */
int sc_request_options_set_affinity(sc_request_options* options, const char* key, int may_move, sc_error* error);

/* sc_request_sync with options (NULL: none). The options may be freed when the call returns. */
sc_response* sc_request_sync_with(sc_http_client* client, const sc_request* request,
                                  const sc_request_options* options, sc_error* error);
/* sc_request_start with options (NULL: none); `call` may be NULL, as sc_request_async. The options
 * may be freed when the call returns. */
int sc_request_start_with(sc_http_client* client, const sc_request* request, const sc_request_options* options,
                          sc_response_callback callback, void* user_data, sc_call** call, sc_error* error);
/* What the request's affinity key got: "new_key" (no connection yet: its first use, or
 * forgotten), "kept" (its connection), "moved" (its connection closed or was busy and the request
 * could move: state kept on the old one is gone), or "none" (no key; also for NULL). Static
 * storage. */
const char* sc_response_affinity(const sc_response* response);

#ifdef __cplusplus
}
#endif

#endif /* SECURECHANNEL_H */
