/* A C program of a user of the installed C ABI, built with `pkg-config --cflags --libs
 * securechannel` only: warms one connection to the upstream and waits until it is established. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <securechannel/securechannel.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: consumer_c host:port ca.pem\n");
    return 2;
  }
  sc_error error;
  sc_pool_config* config = sc_pool_config_new(argv[1]);
  if (sc_pool_config_set_string(config, "tls.ca_file", argv[2], &error) != SC_OK ||
      sc_pool_config_set_bool(config, "tls.system_trust_store", 0, &error) != SC_OK ||
      sc_pool_config_set_int(config, "min_idle", 1, &error) != SC_OK) {
    fprintf(stderr, "consumer_c: %s: %s\n", error.name, error.message);
    return 1;
  }
  sc_pool* pool = sc_pool_new(config, &error);
  sc_pool_config_free(config);
  if (pool == NULL || sc_pool_warm_up(pool, &error) != SC_OK) {
    fprintf(stderr, "consumer_c: %s: %s\n", error.name, error.message);
    sc_pool_free(pool);
    return 1;
  }
  /* sc_pool_warm_up starts the connection; the status shows it once its handshake is done. */
  int established = 0;
  for (int tries = 0; tries < 200 && !established; ++tries) {
    char* status = sc_pool_status_json(pool, &error);
    established = status != NULL && strstr(status, "\"active_connections\":1") != NULL;
    if (established) printf("securechannel %s: one connection established\n", sc_version());
    sc_string_free(status);
    if (!established) nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  }
  if (!established) fprintf(stderr, "consumer_c: no connection established within 10 s\n");
  sc_pool_free(pool);
  return established ? 0 : 1;
}
