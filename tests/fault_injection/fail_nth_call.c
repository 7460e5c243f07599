// An LD_PRELOAD library that makes one network call of a process fail: the N-th call, counting
// every socket(), connect(), send*() and recv*() on an IPv4 or IPv6 socket, fails with the errno
// a real fault gives (EMFILE, ECONNREFUSED, ECONNRESET). Beast's test::fail_count idea, over a
// real program and real sockets: a test runs the program for N = 1, 2, ... until a run makes fewer
// than N calls, and checks that every run ends with a named error or succeeds, never a crash, a
// hang or a lost request (tests/integration/fail_nth_call_test.cpp).
//
//   SC_FAIL_CALL=7 SC_FAIL_CALL_REPORT=/tmp/calls LD_PRELOAD=libfail_nth_call.so scpool request ...
//
// At exit the report file holds the number of calls counted; the call that failed, if any, is
// named on stderr. Built without sanitizers: it only forwards to the C library.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_long calls_counted;
static long fail_at = -1;  // SC_FAIL_CALL: the call that fails, counted from 1; -1: none
static const char* report_path;

__attribute__((constructor)) static void read_settings(void) {
  const char* n = getenv("SC_FAIL_CALL");
  if (n != NULL) fail_at = strtol(n, NULL, 10);
  report_path = getenv("SC_FAIL_CALL_REPORT");
}

__attribute__((destructor)) static void write_report(void) {
  if (report_path == NULL) return;
  FILE* report = fopen(report_path, "w");
  if (report == NULL) return;
  fprintf(report, "%ld\n", atomic_load(&calls_counted));
  fclose(report);
}

static int is_network_socket(int fd) {
  int domain = 0;
  socklen_t length = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return 0;
  return domain == AF_INET || domain == AF_INET6;
}

// Counts the call; true (with errno set) when it is the one that fails.
static int fails_now(const char* name, int error) {
  const long call = atomic_fetch_add(&calls_counted, 1) + 1;
  if (call != fail_at) return 0;
  char line[128];
  const int length = snprintf(line, sizeof line, "fail_nth_call: call %ld (%s) fails with %s\n", call, name,
                              strerrorname_np(error));
  if (length > 0) (void)!write(STDERR_FILENO, line, (size_t)length);
  errno = error;
  return 1;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int socket(int domain, int type, int protocol) {
  if ((domain == AF_INET || domain == AF_INET6) && fails_now("socket", EMFILE)) return -1;
  return NEXT(socket)(domain, type, protocol);
}

int connect(int fd, const struct sockaddr* address, socklen_t length) {
  if (is_network_socket(fd) && fails_now("connect", ECONNREFUSED)) return -1;
  return NEXT(connect)(fd, address, length);
}

ssize_t send(int fd, const void* data, size_t size, int flags) {
  if (is_network_socket(fd) && fails_now("send", ECONNRESET)) return -1;
  return NEXT(send)(fd, data, size, flags);
}

ssize_t sendto(int fd, const void* data, size_t size, int flags, const struct sockaddr* to, socklen_t length) {
  if (is_network_socket(fd) && fails_now("sendto", ECONNRESET)) return -1;
  return NEXT(sendto)(fd, data, size, flags, to, length);
}

ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  if (is_network_socket(fd) && fails_now("sendmsg", ECONNRESET)) return -1;
  return NEXT(sendmsg)(fd, message, flags);
}

ssize_t recv(int fd, void* data, size_t size, int flags) {
  if (is_network_socket(fd) && fails_now("recv", ECONNRESET)) return -1;
  return NEXT(recv)(fd, data, size, flags);
}

ssize_t recvfrom(int fd, void* data, size_t size, int flags, struct sockaddr* from, socklen_t* length) {
  if (is_network_socket(fd) && fails_now("recvfrom", ECONNRESET)) return -1;
  return NEXT(recvfrom)(fd, data, size, flags, from, length);
}

ssize_t recvmsg(int fd, struct msghdr* message, int flags) {
  if (is_network_socket(fd) && fails_now("recvmsg", ECONNRESET)) return -1;
  return NEXT(recvmsg)(fd, message, flags);
}
