#define _POSIX_C_SOURCE 200809L /* nanosleep, with -std=c11 */
/* The C ABI (securechannel.h) used from C, compiled as C11 and linked against libsecurechannel.so:
 * every function, its error paths, many threads at once, and handles freed while requests are in
 * flight. Run by tests/integration/c_abi_test.cpp, which starts nginx (TLS, h2 and http/1.1)
 * with a test CA:
 *
 *   c_abi_test ENDPOINT CA_FILE WORK_DIRECTORY PLAIN_ENDPOINT   # exit 0: every check passed
 *
 * PLAIN_ENDPOINT is nginx without TLS (HTTP/1.1), for the plain pool's checks.
 *
 * Each failed check prints its line and what it saw; the program goes on and exits 1. */
#include "securechannel/securechannel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The layout the ABI promises never to change. */
_Static_assert(sizeof(sc_error) == 512, "sc_error is 512 bytes");

static int failures = 0;

#define CHECK(condition, ...)                                      \
  do {                                                             \
    if (!(condition)) {                                            \
      ++failures;                                                  \
      fprintf(stderr, "%s:%d: failed: %s: ", __FILE__, __LINE__, #condition); \
      fprintf(stderr, __VA_ARGS__);                                \
      fprintf(stderr, "\n");                                       \
    }                                                              \
  } while (0)

static const char* endpoint;
static const char* ca_file;
static const char* work_directory;
static const char* plain_endpoint;
static char base_url[128];

static sc_pool_config* trusting_config(const char* alpn) {
  sc_error error;
  sc_pool_config* config = sc_pool_config_new(endpoint);
  CHECK(config != NULL, "sc_pool_config_new");
  CHECK(sc_pool_config_set_bool(config, "tls.system_trust_store", 0, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_set_string(config, "tls.ca_file", ca_file, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_add_string(config, "tls.alpn", alpn, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_set_int(config, "max_connections", 4, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_set_string(config, "acquire_timeout", "10s", &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_set_string(config, "namespace", "c_abi", &error) == SC_OK, "%s", error.message);
  return config;
}

static sc_request get(const char* path) {
  static _Thread_local char url[256];
  snprintf(url, sizeof url, "%s%s", base_url, path);
  sc_request request = {.method = "GET", .url = url, .timeout_ms = 20000};
  return request;
}

static void test_version_and_null_handles(void) {
  CHECK(strcmp(sc_version(), "") != 0, "empty version");
  sc_pool_config_free(NULL);
  sc_pool_free(NULL);
  sc_http_client_free(NULL);
  sc_response_free(NULL);
  sc_string_free(NULL);
  CHECK(sc_pool_config_new(NULL) == NULL, "a config without an endpoint");
  sc_error error;
  CHECK(sc_pool_new(NULL, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "%s", error.name);
  CHECK(strcmp(error.name, "invalid_argument") == 0, "%s", error.name);
  CHECK(strstr(sc_last_error(), "must not be NULL") != NULL, "last error: %s", sc_last_error());
  CHECK(sc_http_client_new(NULL, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "%s", error.name);
  CHECK(sc_request_sync(NULL, NULL, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "%s", error.name);
  CHECK(sc_pool_warm_up(NULL, NULL) == SC_E_INVALID_ARGUMENT, "warm_up(NULL)");
  CHECK(sc_pool_status_json(NULL, NULL) == NULL, "status of NULL");
  CHECK(sc_response_status(NULL) == 0, "status of a NULL response");
  CHECK(sc_response_http_version(NULL) == 0, "HTTP version of a NULL response");
  CHECK(sc_response_connection_id(NULL) == 0 && sc_response_reused(NULL) == 0 && sc_response_attempts(NULL) == 0,
        "exchange of a NULL response");
  CHECK(sc_response_acquire_us(NULL) == 0 && sc_response_first_byte_us(NULL) == 0 && sc_response_total_us(NULL) == 0,
        "times of a NULL response");
  size_t length = 7;
  CHECK(sc_response_body(NULL, &length) == NULL && length == 0, "body of a NULL response");
  sc_request_options_free(NULL);
  CHECK(sc_request_options_set_affinity(NULL, "k", 0, &error) == SC_E_INVALID_ARGUMENT, "set_affinity(NULL)");
  CHECK(strcmp(sc_response_affinity(NULL), "none") == 0, "affinity of a NULL response");
  CHECK(sc_request_sync_with(NULL, NULL, NULL, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "%s", error.name);
}

static void test_config_mistakes_are_named_at_once(void) {
  sc_error error;
  sc_pool_config* config = sc_pool_config_new(endpoint);
  CHECK(sc_pool_config_set_int(config, "max_conections", 5, &error) == SC_OK, "recorded, checked later");
  CHECK(sc_pool_config_set_int(config, "connect_timeout", 5, &error) == SC_OK, "recorded");
  CHECK(sc_pool_config_set_string(config, "tls.ca_file", "/nonexistent/ca.pem", &error) == SC_OK, "recorded");
  CHECK(sc_pool_config_set_int(config, "bad key!", 1, &error) == SC_E_INVALID_ARGUMENT, "%s", error.message);
  CHECK(sc_pool_config_set_string(config, "endpoint", "elsewhere:443", &error) == SC_E_INVALID_ARGUMENT, "endpoint");
  CHECK(strstr(error.message, "sc_pool_config_new") != NULL, "%s", error.message);
  CHECK(sc_pool_config_set_double(config, "max_lifetime_jitter", 0.25, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_set_int(config, "health_recycle_below", 101, &error) == SC_OK, "recorded");
  CHECK(sc_pool_config_set_int(config, "io_threads", 0, &error) == SC_E_CONFIG, "%s", error.message);
  CHECK(sc_pool_config_set_string(config, "tls.ca_file", NULL, &error) == SC_E_INVALID_ARGUMENT, "NULL value");
  CHECK(sc_pool_config_check(config, &error) == SC_E_CONFIG, "check: %d", error.code);
  CHECK(strstr(error.message, "max_conections: unknown key") != NULL, "%s", error.message);
  CHECK(strstr(error.message, "connect_timeout: needs a unit") != NULL, "%s", error.message);
  CHECK(strstr(error.message, "health_recycle_below: must be from 0 to 100, not 101") != NULL, "%s", error.message);
  CHECK(strstr(error.message, "pool[0]") == NULL, "file places in a C message: %s", error.message);
  CHECK(sc_pool_new(config, &error) == NULL && error.code == SC_E_CONFIG, "%s", error.message);
  sc_pool_config_free(config);

  /* A CA file that does not exist: found when the pool is built, with the file named. */
  config = sc_pool_config_new(endpoint);
  sc_pool_config_set_string(config, "tls.ca_file", "/nonexistent/ca.pem", NULL);
  CHECK(sc_pool_new(config, &error) == NULL && error.code == SC_E_CONFIG, "code %d", error.code);
  CHECK(strstr(error.message, "/nonexistent/ca.pem") != NULL, "%s", error.message);
  sc_pool_config_free(config);
}

static void test_config_from_a_file(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/pools.toml", work_directory);
  FILE* file = fopen(path, "w");
  CHECK(file != NULL, "cannot write %s", path);
  if (file == NULL) return;
  fprintf(file,
          "[[pool]]\nendpoint = \"%s\"\nnamespace = \"first\"\n[pool.tls]\nsystem_trust_store = false\n"
          "ca_file = \"%s\"\n[[pool]]\nendpoint = \"%s\"\nnamespace = \"second\"\nmax_connections = 3\n",
          endpoint, ca_file, endpoint);
  fclose(file);
  sc_error error;
  CHECK(sc_pool_config_load_file(path, NULL, &error) == NULL && error.code == SC_E_CONFIG, "two pools, none named");
  CHECK(strstr(error.message, "holds 2 pools") != NULL, "%s", error.message);
  CHECK(sc_pool_config_load_file(path, "third", &error) == NULL, "no such pool");
  CHECK(strstr(error.message, "no pool with namespace 'third'") != NULL, "%s", error.message);
  CHECK(sc_pool_config_load_file("/nonexistent/pools.toml", NULL, &error) == NULL, "missing file");
  CHECK(strstr(error.message, "/nonexistent/pools.toml") != NULL, "%s", error.message);

  sc_pool_config* config = sc_pool_config_load_file(path, "first", &error);
  CHECK(config != NULL, "%s", error.message);
  CHECK(sc_pool_config_set_int(config, "max_connections", 9, &error) == SC_E_INVALID_ARGUMENT, "fixed values");
  CHECK(sc_pool_config_set_int(config, "io_threads", 2, &error) == SC_OK, "%s", error.message);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  CHECK(pool != NULL, "%s", error.message);
  sc_http_client* client = sc_http_client_new(pool, &error);
  sc_request request = get("/");
  sc_response* response = sc_request_sync(client, &request, &error);
  CHECK(response != NULL && sc_response_status(response) == 200, "%s", error.message);
  sc_response_free(response);
  sc_http_client_free(client);
  sc_pool_free(pool);
}

/* `label`: a name for files, `alpn`: the protocol to offer. */
static void test_requests_and_responses(const char* alpn, const char* label) {
  sc_error error;
  sc_pool_config* config = trusting_config(alpn);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  CHECK(pool != NULL, "%s", error.message);
  if (pool == NULL) return;
  CHECK(sc_pool_warm_up(pool, &error) == SC_OK, "%s", error.message);
  sc_http_client* client = sc_http_client_new(pool, &error);
  CHECK(client != NULL, "%s", error.message);

  sc_request request = get("/");
  sc_response* response = sc_request_sync(client, &request, &error);
  CHECK(response != NULL, "%s: %s", error.name, error.message);
  if (response != NULL) {
    size_t length = 0;
    const char* body = sc_response_body(response, &length);
    CHECK(sc_response_status(response) == 200, "status %d", sc_response_status(response));
    const int version = strcmp(alpn, "h2") == 0 ? 20 : 11;
    CHECK(sc_response_http_version(response) == version, "%s: HTTP version %d", alpn,
          sc_response_http_version(response));
    CHECK(length == 6 && memcmp(body, "hello\n", 6) == 0, "body of %zu bytes", length);
    CHECK(sc_response_header_count(response) >= 1, "no header fields");
    const char* server = sc_response_header_value(response, "SERVER");
    CHECK(server != NULL && strncmp(server, "nginx", 5) == 0, "Server: %s", server ? server : "(none)");
    const char* name = NULL;
    const char* value = NULL;
    CHECK(sc_response_header(response, 0, &name, &value) == SC_OK && name != NULL && value != NULL, "header 0");
    CHECK(sc_response_header(response, 1000, &name, &value) == SC_E_INVALID_ARGUMENT, "header 1000");
    CHECK(sc_response_connection_id(response) != 0, "%s: no connection id", alpn);
    CHECK(sc_response_attempts(response) == 1, "%s: %u attempts", alpn, sc_response_attempts(response));
    CHECK(sc_response_acquire_us(response) <= sc_response_first_byte_us(response) &&
              sc_response_first_byte_us(response) <= sc_response_total_us(response) && sc_response_total_us(response) > 0,
          "%s: acquire %llu us, first byte %llu us, total %llu us", alpn,
          (unsigned long long)sc_response_acquire_us(response), (unsigned long long)sc_response_first_byte_us(response),
          (unsigned long long)sc_response_total_us(response));
    sc_response_free(response);
  }

  /* A PUT with a body and a header of ours: nginx's DAV module stores it (201). */
  static const char document[] = "stored through the C ABI";
  const sc_header headers[] = {{.name = "X-Relay", .value = "c"}};
  char url[256];
  snprintf(url, sizeof url, "%s/upload/c-abi-%s", base_url, label);
  sc_request put = {.method = "PUT", .url = url, .headers = headers, .header_count = 1, .body = document,
                    .body_length = sizeof document - 1};
  response = sc_request_sync(client, &put, &error);
  CHECK(response != NULL && (sc_response_status(response) == 201 || sc_response_status(response) == 204),
        "PUT: %d %s", sc_response_status(response), error.message);
  sc_response_free(response);
  sc_request fetch = {.url = url};
  response = sc_request_sync(client, &fetch, &error);
  size_t length = 0;
  const char* body = response ? sc_response_body(response, &length) : NULL;
  CHECK(body != NULL && length == sizeof document - 1 && memcmp(body, document, length) == 0, "GET what was PUT");
  CHECK(sc_response_reused(response) == 1, "%s: the third request's connection was not reused", alpn);
  sc_response_free(response);

  /* URLs and requests the client refuses before sending anything. */
  request = get("/");
  request.url = "https://127.0.0.1/absent";
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "other port");
  CHECK(strstr(error.message, "not the pool's endpoint") != NULL, "%s", error.message);
  request.url = "http://example.com/";
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "http URL");
  request = get("/");
  request.body_length = 3;
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "NULL body");
  const sc_header host[] = {{.name = "host", .value = "elsewhere"}};
  request = get("/");
  request.headers = host;
  request.header_count = 1;
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_INVALID_ARGUMENT, "a Host header");
  CHECK(strstr(error.message, "Host is set from the URL") != NULL, "%s", error.message);
  request = get("/");
  request.method = "GET\r\nX: y";
  CHECK(sc_request_sync(client, &request, &error) == NULL, "a smuggled method");
  CHECK(strcmp(error.name, "invalid_request") == 0, "%s: %s", error.name, error.message);

  char* status = sc_pool_status_json(pool, &error);
  CHECK(status != NULL && strstr(status, "\"active_connections\"") != NULL, "status: %s", status ? status : error.message);
  sc_string_free(status);
  char* metrics = sc_pool_metrics_text(pool, &error);
  CHECK(metrics != NULL && strstr(metrics, "c_abi_") != NULL, "metrics: %.200s", metrics ? metrics : error.message);
  sc_string_free(metrics);

  CHECK(sc_pool_shutdown(pool, 1000, &error) == SC_OK, "%s", error.message);
  request = get("/");
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_SHUT_DOWN, "after shutdown: %s %s",
        error.name, error.message);
  sc_http_client_free(client);
  sc_pool_free(pool);
}

static void test_failures_carry_their_names(void) {
  sc_error error;
  /* Nobody listens on port 1 of loopback. */
  sc_pool_config* config = sc_pool_config_new("127.0.0.1:1");
  sc_pool_config_set_bool(config, "tls.system_trust_store", 0, NULL);
  sc_pool_config_set_string(config, "tls.ca_file", ca_file, NULL);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  sc_http_client* client = sc_http_client_new(pool, &error);
  sc_request request = {.url = "https://127.0.0.1:1/", .timeout_ms = 5000};
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_REQUEST, "refused: %d", error.code);
  CHECK(strcmp(error.name, "connect_refused") == 0, "%s: %s", error.name, error.message);
  sc_http_client_free(client);
  sc_pool_free(pool);

  /* The system's trust store does not know the test CA: refused with OpenSSL's reason. */
  config = sc_pool_config_new(endpoint);
  pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  client = sc_http_client_new(pool, &error);
  request = get("/");
  CHECK(sc_request_sync(client, &request, &error) == NULL && error.code == SC_E_REQUEST, "untrusted: %d", error.code);
  CHECK(strcmp(error.name, "certificate_verify_failed") == 0, "%s", error.name);
  CHECK(strstr(error.message, "local issuer") != NULL, "no reason: %s", error.message);
  CHECK(strcmp(sc_last_error(), error.message) == 0, "last error: %s", sc_last_error());
  sc_http_client_free(client);
  sc_pool_free(pool);
}

/* ---- Threads and callbacks --------------------------------------------------------------- */

struct tally {
  atomic_int completed;
  atomic_int succeeded;
  atomic_int failed;
};

static void count_response(void* user_data, sc_response* response, const sc_error* error) {
  struct tally* tally = user_data;
  if (response != NULL && sc_response_status(response) == 200 && error == NULL) {
    atomic_fetch_add(&tally->succeeded, 1);
  } else {
    atomic_fetch_add(&tally->failed, 1);
  }
  sc_response_free(response);
  atomic_fetch_add(&tally->completed, 1);
}

/* tls = false: http:// URLs over plain TCP; an https:// URL is refused rather than sent in the
 * clear, and a TLS key beside tls = false is a mistake. */
static void test_plain_pool(void) {
  sc_error error;
  sc_pool_config* config = sc_pool_config_new(plain_endpoint);
  CHECK(sc_pool_config_set_bool(config, "tls", 0, &error) == SC_OK, "%s", error.message);
  sc_pool* pool = sc_pool_new(config, &error);
  CHECK(pool != NULL, "a plain pool: %s", error.message);
  sc_http_client* client = pool ? sc_http_client_new(pool, &error) : NULL;
  CHECK(client != NULL || pool == NULL, "%s", error.message);
  if (client != NULL) {
    char url[160];
    snprintf(url, sizeof url, "http://%s/", plain_endpoint);
    sc_request request = {.method = "GET", .url = url, .timeout_ms = 20000};
    for (int i = 0; i < 3; ++i) {
      sc_response* response = sc_request_sync(client, &request, &error);
      CHECK(response != NULL && sc_response_status(response) == 200, "GET %s: %s", url, error.message);
      sc_response_free(response);
    }
    snprintf(url, sizeof url, "https://%s/", plain_endpoint);
    sc_response* refused = sc_request_sync(client, &request, &error);
    CHECK(refused == NULL && error.code == SC_E_INVALID_ARGUMENT && strstr(error.message, "use http://") != NULL,
          "an https URL on a plain pool: %s", refused ? "sent" : error.message);
    sc_response_free(refused);
    char* status = sc_pool_status_json(pool, &error);
    CHECK(status != NULL && strstr(status, "\"scheme\":\"http\"") != NULL, "status: %s",
          status ? status : error.message);
    sc_string_free(status);
  }
  sc_http_client_free(client);
  sc_pool_free(pool);
  sc_pool_config_free(config);

  sc_pool_config* mixed = sc_pool_config_new(plain_endpoint);
  CHECK(sc_pool_config_set_bool(mixed, "tls", 0, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_add_string(mixed, "tls.pins", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &error) ==
            SC_OK,
        "%s", error.message);
  CHECK(sc_pool_config_check(mixed, &error) == SC_E_CONFIG && strstr(error.message, "tls.pins") != NULL,
        "a pin beside tls = false: %s", error.message);
  sc_pool_config_free(mixed);

  /* tls = 1 is TLS, said out loud: TLS keys beside it are fine. */
  sc_pool_config* explicit_tls = trusting_config("h2");
  CHECK(sc_pool_config_set_bool(explicit_tls, "tls", 1, &error) == SC_OK, "%s", error.message);
  CHECK(sc_pool_config_check(explicit_tls, &error) == SC_OK, "tls = 1 beside tls.ca_file: %s", error.message);
  sc_pool_config_free(explicit_tls);
}

static int wait_for(atomic_int* counter, int expected, int seconds) {
  const time_t until = time(NULL) + seconds;
  while (atomic_load(counter) < expected && time(NULL) < until) {
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return atomic_load(counter) == expected;
}

/* An affinity key keeps its connection: the first request is new to it, the next ones keep it,
 * synchronous or not; a request without options has no affinity; a key too long is refused. */
static void test_affinity(const char* alpn) {
  sc_error error;
  sc_pool_config* config = trusting_config(alpn);
  sc_pool_config_set_int(config, "max_connections", 2, NULL);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  CHECK(pool != NULL, "%s: %s", error.name, error.message);
  sc_http_client* client = pool ? sc_http_client_new(pool, &error) : NULL;
  sc_request_options* options = sc_request_options_new();
  CHECK(options != NULL, "options");
  if (client == NULL || options == NULL) goto done;

  char too_long[300];
  memset(too_long, 'k', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  CHECK(sc_request_options_set_affinity(options, too_long, 0, &error) == SC_E_INVALID_ARGUMENT, "a 299-byte key");
  CHECK(strstr(error.message, "at most 256") != NULL, "%s", error.message);
  CHECK(sc_request_options_set_affinity(options, "relay-session-7", 0, &error) == SC_OK, "%s", error.message);

  uint64_t connection = 0;
  for (int i = 0; i < 4; ++i) {
    sc_request request = get("/");
    sc_response* response = sc_request_sync_with(client, &request, options, &error);
    CHECK(response != NULL, "%s: %s %s", alpn, error.name, error.message);
    if (response == NULL) continue;
    const char* expected = i == 0 ? "new_key" : "kept";
    CHECK(strcmp(sc_response_affinity(response), expected) == 0, "%s: request %d: %s, not %s", alpn, i,
          sc_response_affinity(response), expected);
    if (i == 0) connection = sc_response_connection_id(response);
    CHECK(sc_response_connection_id(response) == connection, "%s: request %d on another connection", alpn, i);
    sc_response_free(response);
  }
  struct tally tally = {0};
  sc_request request = get("/");
  CHECK(sc_request_start_with(client, &request, options, count_response, &tally, NULL, &error) == SC_OK, "%s",
        error.message);
  CHECK(wait_for(&tally.succeeded, 1, 10), "%s: the asynchronous request with a key", alpn);
  sc_response* plain = sc_request_sync(client, &request, &error);
  CHECK(plain != NULL && strcmp(sc_response_affinity(plain), "none") == 0, "%s: a request without a key", alpn);
  sc_response_free(plain);
  char* status = sc_pool_status_json(pool, &error);
  CHECK(status != NULL && strstr(status, "\"affinity_keys\":1,") != NULL, "%s: status: %s", alpn,
        status ? status : error.message);
  sc_string_free(status);
done:
  sc_request_options_free(options);
  sc_http_client_free(client);
  sc_pool_free(pool);
}

struct worker {
  sc_http_client* client;
  struct tally* tally;
  int requests;
};

/* Half the requests synchronous, half asynchronous, from each thread. */
static void* run_worker(void* argument) {
  struct worker* worker = argument;
  for (int i = 0; i < worker->requests; ++i) {
    sc_request request = get("/");
    sc_error error;
    if (i % 2 == 0) {
      sc_response* response = sc_request_sync(worker->client, &request, &error);
      count_response(worker->tally, response, response ? NULL : &error);
    } else if (sc_request_async(worker->client, &request, count_response, worker->tally, &error) != SC_OK) {
      atomic_fetch_add(&worker->tally->failed, 1);
      atomic_fetch_add(&worker->tally->completed, 1);
    }
  }
  return NULL;
}

static void test_many_threads(const char* alpn) {
  enum { threads = 8, requests_each = 50 };
  sc_error error;
  sc_pool_config* config = trusting_config(alpn);
  sc_pool_config_set_int(config, "io_threads", 2, NULL);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  sc_http_client* client = sc_http_client_new(pool, &error);
  struct tally tally = {0};
  struct worker worker = {.client = client, .tally = &tally, .requests = requests_each};
  pthread_t running[threads];
  for (int i = 0; i < threads; ++i) pthread_create(&running[i], NULL, run_worker, &worker);
  for (int i = 0; i < threads; ++i) pthread_join(running[i], NULL);
  CHECK(wait_for(&tally.completed, threads * requests_each, 60), "%d of %d completed", atomic_load(&tally.completed),
        threads * requests_each);
  CHECK(atomic_load(&tally.succeeded) == threads * requests_each, "%s: %d succeeded, %d failed", alpn,
        atomic_load(&tally.succeeded), atomic_load(&tally.failed));
  sc_http_client_free(client);
  sc_pool_free(pool);
}

/* Handles freed with requests in flight: 20 quick requests done, 20 slow downloads (1 KiB/s of
 * 256 KiB) still running. Freeing the client lets them carry on; freeing the pool cuts them, and
 * every callback still runs, once. */
static void test_free_while_in_flight(void) {
  enum { requests = 40 };
  sc_error error;
  sc_pool_config* config = trusting_config("h2");
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  sc_http_client* client = sc_http_client_new(pool, &error);
  struct tally tally = {0};
  for (int i = 0; i < requests; ++i) {
    sc_request request = get(i % 2 == 0 ? "/slow" : "/");
    CHECK(sc_request_async(client, &request, count_response, &tally, &error) == SC_OK, "%s", error.message);
  }
  CHECK(wait_for(&tally.succeeded, requests / 2, 30), "%d quick requests done", atomic_load(&tally.succeeded));
  sc_http_client_free(client);
  struct timespec pause = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  CHECK(atomic_load(&tally.completed) == requests / 2, "the client's free cut %d downloads",
        atomic_load(&tally.completed) - requests / 2);
  sc_pool_free(pool);
  CHECK(wait_for(&tally.completed, requests, 60), "%d of %d callbacks ran", atomic_load(&tally.completed), requests);
  CHECK(atomic_load(&tally.succeeded) == requests / 2 && atomic_load(&tally.failed) == requests / 2,
        "%d succeeded, %d failed", atomic_load(&tally.succeeded), atomic_load(&tally.failed));
}

/* The outcome of one cancellable request. */
struct cancel_outcome {
  atomic_int completed;
  int code;
  char name[60];
};

static void note_outcome(void* user_data, sc_response* response, const sc_error* error) {
  struct cancel_outcome* outcome = user_data;
  outcome->code = error == NULL ? SC_OK : error->code;
  snprintf(outcome->name, sizeof outcome->name, "%s", error == NULL ? "" : error->name);
  sc_response_free(response);
  atomic_fetch_add(&outcome->completed, 1);
}

static void sleep_ms(long milliseconds) {
  struct timespec pause = {.tv_sec = milliseconds / 1000, .tv_nsec = (milliseconds % 1000) * 1000 * 1000};
  nanosleep(&pause, NULL);
}

/* sc_call_cancel ends a download that would take minutes (1 KiB/s of 256 KiB) at once, with its
 * own error; the pool goes on serving. Cancelling after completion, or twice, does nothing. */
static void test_cancel(const char* alpn) {
  sc_error error;
  sc_pool_config* config = trusting_config(alpn);
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  sc_http_client* client = sc_http_client_new(pool, &error);

  sc_request request = get("/slow");
  CHECK(sc_request_start(client, &request, note_outcome, NULL, NULL, &error) == SC_E_INVALID_ARGUMENT,
        "%s: a NULL call is refused", alpn);
  struct cancel_outcome slow = {0};
  sc_call* call = NULL;
  CHECK(sc_request_start(client, &request, note_outcome, &slow, &call, &error) == SC_OK, "%s", error.message);
  sleep_ms(300);
  CHECK(atomic_load(&slow.completed) == 0, "%s: the download ended by itself", alpn);
  sc_call_cancel(call);
  CHECK(wait_for(&slow.completed, 1, 20), "%s: the cancelled download did not end", alpn);
  CHECK(slow.code == SC_E_CANCELLED && strcmp(slow.name, "cancelled") == 0, "%s: cancelled as %d '%s'", alpn,
        slow.code, slow.name);
  sc_call_cancel(call);
  sc_call_free(call);
  sc_call_cancel(NULL);
  sc_call_free(NULL);

  /* The pool serves on; a call completed before its cancel keeps its response. */
  struct cancel_outcome quick = {0};
  request = get("/");
  CHECK(sc_request_start(client, &request, note_outcome, &quick, &call, &error) == SC_OK, "%s", error.message);
  CHECK(wait_for(&quick.completed, 1, 20), "%s: the request after the cancel did not end", alpn);
  sc_call_cancel(call);
  sc_call_free(call);
  sleep_ms(100);
  CHECK(atomic_load(&quick.completed) == 1 && quick.code == SC_OK, "%s: after the cancel: %d '%s', %d callbacks",
        alpn, quick.code, quick.name, atomic_load(&quick.completed));

  /* A cancel that comes at once, often before an I/O thread has taken the request, ends it
   * just the same: one callback each, cancelled unless the quick request had already finished. */
  enum { immediate = 200 };
  struct cancel_outcome* at_once = calloc(immediate, sizeof *at_once);
  sc_call* calls[immediate];
  for (int i = 0; i < immediate; ++i) {
    request = get(i % 2 == 0 ? "/slow" : "/");
    CHECK(sc_request_start(client, &request, note_outcome, &at_once[i], &calls[i], &error) == SC_OK, "%s",
          error.message);
    sc_call_cancel(calls[i]);
  }
  for (int i = 0; i < immediate; ++i) {
    CHECK(wait_for(&at_once[i].completed, 1, 20), "%s: request %d cancelled at once never ended", alpn, i);
    CHECK(at_once[i].code == SC_E_CANCELLED || (i % 2 == 1 && at_once[i].code == SC_OK),
          "%s: request %d cancelled at once ended as %d '%s'", alpn, i, at_once[i].code, at_once[i].name);
    sc_call_free(calls[i]);
  }
  sleep_ms(100);
  for (int i = 0; i < immediate; ++i) {
    CHECK(atomic_load(&at_once[i].completed) == 1, "%s: request %d: %d callbacks", alpn, i,
          atomic_load(&at_once[i].completed));
  }
  free(at_once);

  /* Freeing the call does not cancel: the download is still running when the pool is freed. */
  struct cancel_outcome freed = {0};
  request = get("/slow");
  CHECK(sc_request_start(client, &request, note_outcome, &freed, &call, &error) == SC_OK, "%s", error.message);
  sc_call_free(call);
  sleep_ms(300);
  CHECK(atomic_load(&freed.completed) == 0, "%s: freeing the call ended the request", alpn);
  sc_http_client_free(client);
  sc_pool_free(pool);
  /* Cut by the pool's free (how depends on the protocol), never reported as cancelled. */
  CHECK(wait_for(&freed.completed, 1, 20) && freed.code != SC_OK && freed.code != SC_E_CANCELLED,
        "%s: after the pool's free: %d '%s'", alpn, freed.code, freed.name);
}

/* A callback that makes another request (async) and frees the handles it was given. */
struct chain {
  sc_http_client* client;
  sc_pool* pool;
  atomic_int done;
  char sync_error[60];
};

static void second_step(void* user_data, sc_response* response, const sc_error* error) {
  struct chain* chain = user_data;
  (void)error;
  sc_response_free(response);
  /* Freed on a library thread: the last handles of the pool's threads go here. */
  sc_http_client_free(chain->client);
  sc_pool_free(chain->pool);
  atomic_store(&chain->done, 1);
}

static void first_step(void* user_data, sc_response* response, const sc_error* error) {
  struct chain* chain = user_data;
  (void)error;
  sc_response_free(response);
  sc_request request = get("/");
  sc_error sync_error;
  if (sc_request_sync(chain->client, &request, &sync_error) == NULL) {
    snprintf(chain->sync_error, sizeof chain->sync_error, "%s", sync_error.name);
  }
  sc_request_async(chain->client, &request, second_step, chain, NULL);
}

static void test_callbacks_may_request_and_free(void) {
  sc_error error;
  sc_pool_config* config = trusting_config("http/1.1");
  struct chain chain = {.pool = sc_pool_new(config, &error)};
  sc_pool_config_free(config);
  chain.client = sc_http_client_new(chain.pool, &error);
  sc_request request = get("/");
  CHECK(sc_request_async(chain.client, &request, first_step, &chain, &error) == SC_OK, "%s", error.message);
  CHECK(wait_for(&chain.done, 1, 30), "the chain did not finish");
  CHECK(strcmp(chain.sync_error, "invalid_argument") == 0, "sc_request_sync in a callback: '%s'", chain.sync_error);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s ENDPOINT CA_FILE WORK_DIRECTORY PLAIN_ENDPOINT\n", argv[0]);
    return 2;
  }
  endpoint = argv[1];
  ca_file = argv[2];
  work_directory = argv[3];
  plain_endpoint = argv[4];
  snprintf(base_url, sizeof base_url, "https://%s", endpoint);

  test_version_and_null_handles();
  test_config_mistakes_are_named_at_once();
  test_config_from_a_file();
  test_requests_and_responses("h2", "h2");
  test_requests_and_responses("http/1.1", "http11");
  test_failures_carry_their_names();
  test_plain_pool();
  test_affinity("h2");
  test_affinity("http/1.1");
  test_callbacks_may_request_and_free();
  test_cancel("h2");
  test_cancel("http/1.1");
  test_many_threads("h2");
  test_many_threads("http/1.1");
  test_free_while_in_flight();
  if (failures > 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("every check passed\n");
  return 0;
}
