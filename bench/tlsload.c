/* A libnbd load generator for NBD over TLS, for bench/tls_bench.py.
 *
 * fio's nbd engine cannot reach a TLS server with a PSK file or a
 * certificate directory: it calls nbd_connect_uri without
 * nbd_set_uri_allow_local_file, so libnbd refuses tls-psk-file= and
 * tls-certificates=. This does what that engine does (libnbd's aio calls
 * with a fixed number in flight, one connection) after allowing them.
 *
 * Usage: tlsload URI read|write random|sequential BLOCK-SIZE DEPTH SECONDS
 * Prints: "<I/Os> <seconds>".
 */
#include <libnbd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t state = 88172645463325252ull;
static uint64_t next_random(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s URI read|write random|sequential BLOCK-SIZE DEPTH SECONDS\n", argv[0]);
    return 2;
  }
  const char *uri = argv[1];
  bool writing = strcmp(argv[2], "write") == 0;
  bool random = strcmp(argv[3], "random") == 0;
  size_t block = strtoul(argv[4], NULL, 10);
  int depth = atoi(argv[5]);
  double seconds = atof(argv[6]);
  struct nbd_handle *h = nbd_create();
  if (h == NULL || nbd_set_uri_allow_local_file(h, true) == -1 || nbd_connect_uri(h, uri) == -1) {
    fprintf(stderr, "tlsload: %s\n", nbd_get_error());
    return 1;
  }
  uint64_t blocks = (uint64_t)nbd_get_size(h) / block;
  int64_t cookies[depth];
  void *buffers[depth];
  uint64_t position = 0, done = 0;
  for (int i = 0; i < depth; i++) {
    buffers[i] = aligned_alloc(4096, block);
    memset(buffers[i], i + 1, block);
    cookies[i] = 0;
  }
  double start = now(), end = start + seconds;
#define SUBMIT(i)                                                                              \
  do {                                                                                         \
    uint64_t offset = (random ? next_random() % blocks : position++ % blocks) * block;         \
    cookies[i] = writing ? nbd_aio_pwrite(h, buffers[i], block, offset, NBD_NULL_COMPLETION, 0) \
                         : nbd_aio_pread(h, buffers[i], block, offset, NBD_NULL_COMPLETION, 0); \
    if (cookies[i] == -1) {                                                                    \
      fprintf(stderr, "tlsload: %s\n", nbd_get_error());                                      \
      return 1;                                                                                \
    }                                                                                          \
  } while (0)
  for (int i = 0; i < depth; i++) SUBMIT(i);
  int in_flight = depth;
  while (in_flight > 0) {
    if (nbd_poll(h, -1) == -1) {
      fprintf(stderr, "tlsload: %s\n", nbd_get_error());
      return 1;
    }
    bool more = now() < end;
    for (int i = 0; i < depth; i++) {
      if (cookies[i] == 0) continue;
      int r = nbd_aio_command_completed(h, cookies[i]);
      if (r == -1) {
        fprintf(stderr, "tlsload: %s\n", nbd_get_error());
        return 1;
      }
      if (r == 0) continue;
      done++;
      cookies[i] = 0;
      in_flight--;
      if (more) {
        SUBMIT(i);
        in_flight++;
      }
    }
  }
  printf("%llu %.6f\n", (unsigned long long)done, now() - start);
  nbd_shutdown(h, 0);
  nbd_close(h);
  return 0;
}
