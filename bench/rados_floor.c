// What a librados client must spend per write, whoever it is: the least a
// program can do through librados' C API (the API buse uses), measured on the
// same cluster in the same run as buse, so that issue 15's bar on buse's own
// CPU per RADOS write (35 µs at 4K, 450 µs at 1 MiB) can be set beside it.
//
//   direct: one process, no NBD, no threads of its own: DEPTH writes of
//           BLOCK bytes are kept in flight with rados_aio_write, each
//           completion's callback (run on librados' completion thread, as
//           buse's are) submits the next write.
//   served: what any NBD server on librados must add, with buse's shape and
//           nothing else, under the client buse is measured with: fio's nbd
//           engine keeps DEPTH writes in flight over loopback TCP; the
//           server's one reader thread reads requests in batches and submits
//           each with rados_aio_write (which copies the payload, so the read
//           buffer is reused at once), and each completion's callback sends
//           the 16-byte reply from librados' completion thread. A handshake
//           just big enough for fio, no parsing beyond the header, no map,
//           no allocation of its own, no locks. Only the server process's
//           CPU is counted (fio is a child, not in its rusage until waited
//           for, which is after the measurement).
//
// Objects
// are 4 MiB, named like an image's data objects; offsets are random and
// BLOCK-aligned within REGION (4K) or sequential (BLOCK of 1 MiB and more),
// as bench/rados_breakdown.py's fio jobs are. The objects are written whole
// first, so every measured write lands in an existing object, as buse's do
// after that script's preconditioning.
//
// CPU comes from getrusage(RUSAGE_SELF) over the measured window: every
// thread librados runs (messenger, completions, timers), the callbacks and,
// served, the reader. bench/rados_breakdown.py prints both beside buse.
//
// Build: cc -O2 -pthread -o rados_floor rados_floor.c -lrados
// Run:   rados_floor direct|served CEPH_CONF POOL [SECONDS] [DEPTH] [BLOCK] [REGION_MIB] [OBJECT_PREFIX]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <rados/librados.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "nbd_floor.h"

enum { object_size = 4 << 20, max_depth = 256, header_size = 28, reply_size = 16 };

static rados_ioctx_t ioctx;
static size_t block = 4096;
static uint64_t region = 1ull << 30;
static char *payload;
static atomic_uint_fast64_t completed, next_sequential;
static atomic_int stopping, failed, outstanding;
static int client_socket = -1;  // served: the server's end of the client's connection

static void fail(const char *what, int code) {
    fprintf(stderr, "rados_floor: %s: %s\n", what, strerror(-code));
    exit(1);
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
}

// The objects' names: OBJECT_PREFIX and the number, as an image's data
// objects are named; "floor_data." without one.
static const char *object_prefix = "floor_data.";

static void object_name(uint64_t index, char name[128]) {
    snprintf(name, 128, "%s%016llx", object_prefix, (unsigned long long)index);
}

// The next write's offset in the region: random for small blocks (a
// xorshift per call; the state need not be shared exactly), sequential for
// large ones.
static uint64_t next_offset(void) {
    uint64_t blocks = region / block;
    if (block >= (1u << 20)) return (atomic_fetch_add(&next_sequential, 1) % blocks) * block;
    static _Thread_local uint64_t state = 88172645463325252ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (state % blocks) * block;
}

static void submit(void);

static void written(rados_completion_t completion, void *argument) {
    (void)argument;
    if (rados_aio_get_return_value(completion) < 0) atomic_store(&failed, 1);
    rados_aio_release(completion);
    atomic_fetch_add(&completed, 1);
    if (atomic_load(&stopping)) {
        atomic_fetch_sub(&outstanding, 1);
        return;
    }
    submit();
}

static void submit(void) {
    uint64_t offset = next_offset();
    char name[128];
    object_name(offset / object_size, name);
    rados_completion_t completion;
    int code = rados_aio_create_completion2(NULL, written, &completion);
    if (code < 0) fail("rados_aio_create_completion2", code);
    code = rados_aio_write(ioctx, name, completion, payload, block, offset % object_size);
    if (code < 0) fail("rados_aio_write", code);
}

// Served: the reply, sent from librados' completion thread as buse's are.
// The client's handle rides in the completion's argument.
static void answered(rados_completion_t completion, void *argument) {
    if (rados_aio_get_return_value(completion) < 0) atomic_store(&failed, 1);
    rados_aio_release(completion);
    atomic_fetch_add(&completed, 1);
    char reply[reply_size] = {0x67, 0x44, 0x66, (char)0x98};
    uint64_t handle = (uint64_t)(uintptr_t)argument;
    memcpy(reply + 8, &handle, sizeof handle);
    send(client_socket, reply, sizeof reply, MSG_NOSIGNAL);
    atomic_fetch_sub(&outstanding, 1);
}

// The server's reader on one connection: reads requests in batches and
// submits each whole write; anything else (fio's closing flush, the
// disconnect) is answered at once, or ends the connection.
static void serve_requests(void) {
    size_t capacity = 2 * (header_size + block) + (1 << 16);
    char *buffer = malloc(capacity);
    size_t start = 0, have = 0;
    for (;;) {
        while (have >= header_size) {
            uint16_t type;
            uint64_t handle, offset;
            uint32_t length;
            memcpy(&type, buffer + start + 6, sizeof type);
            memcpy(&handle, buffer + start + 8, sizeof handle);
            memcpy(&offset, buffer + start + 16, sizeof offset);
            memcpy(&length, buffer + start + 24, sizeof length);
            type = be16toh(type);
            offset = be64toh(offset);
            length = be32toh(length);
            if (type == 2) goto done;  // NBD_CMD_DISC
            if (type != 1) {
                char reply[reply_size] = {0x67, 0x44, 0x66, (char)0x98};
                memcpy(reply + 8, &handle, sizeof handle);
                send(client_socket, reply, sizeof reply, MSG_NOSIGNAL);
                start += header_size;
                have -= header_size;
                continue;
            }
            if (length != block || offset % object_size + length > object_size) fail("a write of another size", -22);
            if (have < header_size + block) break;
            char name[128];
            object_name(offset / object_size, name);
            rados_completion_t completion;
            int code = rados_aio_create_completion2((void *)(uintptr_t)handle, answered, &completion);
            if (code < 0) fail("rados_aio_create_completion2", code);
            atomic_fetch_add(&outstanding, 1);
            code = rados_aio_write(ioctx, name, completion, buffer + start + header_size, block, offset % object_size);
            if (code < 0) fail("rados_aio_write", code);
            start += header_size + block;
            have -= header_size + block;
        }
        if (start > 0) {
            memmove(buffer, buffer + start, have);
            start = 0;
        }
        ssize_t got = recv(client_socket, buffer + have, capacity - have, 0);
        if (got <= 0) break;
        have += (size_t)got;
    }
done:
    free(buffer);
}

// fio connects twice: once to learn the size, then for the job. Each
// connection is served in turn until the listener is shut down.
static void *serve_connections(void *listener) {
    int fd = *(int *)listener;
    for (;;) {
        client_socket = accept(fd, NULL, NULL);
        if (client_socket < 0) return NULL;
        int one = 1;
        setsockopt(client_socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (nbd_floor_negotiate(client_socket, region)) serve_requests();
        close(client_socket);
    }
}

int main(int argc, char **argv) {
    int served = argc > 1 && strcmp(argv[1], "served") == 0;
    if (argc < 4 || (!served && strcmp(argv[1], "direct") != 0)) {
        fprintf(stderr,
                "usage: rados_floor direct|served CEPH_CONF POOL [SECONDS] [DEPTH] [BLOCK] [REGION_MIB] [OBJECT_PREFIX]\n");
        return 2;
    }
    argv++;
    argc--;
    double seconds = argc > 3 ? atof(argv[3]) : 8;
    int depth = argc > 4 ? atoi(argv[4]) : 16;
    if (argc > 5) block = strtoull(argv[5], NULL, 10);
    if (argc > 6) region = strtoull(argv[6], NULL, 10) << 20;
    // With OBJECT_PREFIX the objects are an image's, not the floor's own.
    int own_objects = argc <= 7;
    if (!own_objects) object_prefix = argv[7];
    if (depth < 1 || depth > max_depth || block == 0 || block > object_size || object_size % block != 0 ||
        region < object_size || region % object_size != 0) {
        fprintf(stderr, "rados_floor: DEPTH 1-%d, BLOCK dividing 4 MiB, REGION_MIB a multiple of 4\n", max_depth);
        return 2;
    }

    rados_t cluster;
    int code = rados_create2(&cluster, "ceph", "client.admin", 0);
    if (code < 0) fail("rados_create2", code);
    if ((code = rados_conf_read_file(cluster, argv[1])) < 0) fail("rados_conf_read_file", code);
    if ((code = rados_connect(cluster)) < 0) fail("rados_connect", code);
    if ((code = rados_ioctx_create(cluster, argv[2], &ioctx)) < 0) fail("rados_ioctx_create", code);

    // Whole objects first, so that measured writes overwrite; but objects
    // named by OBJECT_PREFIX are an image's, already written and left in
    // the state the measured writes before found and made (a memstore
    // object overwritten at random in 4K pieces is slower to write again
    // than a fresh one), and are written as they are.
    payload = malloc(block);
    if (payload == NULL) fail("malloc", -12);
    memset(payload, 0xa5, block);
    if (own_objects) {
        char *whole = calloc(1, object_size);
        if (whole == NULL) fail("malloc", -12);
        for (uint64_t index = 0; index < region / object_size; index++) {
            char name[128];
            object_name(index, name);
            if ((code = rados_write_full(ioctx, name, whole, object_size)) < 0) fail("rados_write_full", code);
        }
        free(whole);
    }

    pid_t client = -1;
    pthread_t reader;
    int listener = -1;
    if (served) {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1) < 0 ||
            getsockname(listener, (struct sockaddr *)&address, &length) < 0) {
            perror("rados_floor: listen");
            return 1;
        }
        client = nbd_floor_start_fio(ntohs(address.sin_port), depth, block, region, seconds + 3);
        pthread_create(&reader, NULL, serve_connections, &listener);
    } else {
        atomic_store(&outstanding, depth);
        for (int i = 0; i < depth; i++) submit();
    }
    // A second of warm-up, then the measured window.
    usleep(1000000);
    uint64_t writes_before = atomic_load(&completed);
    double cpu_before = cpu_seconds(), wall_before = now_seconds();
    usleep((useconds_t)(seconds * 1e6));
    uint64_t writes = atomic_load(&completed) - writes_before;
    double cpu = cpu_seconds() - cpu_before, wall = now_seconds() - wall_before;
    atomic_store(&stopping, 1);
    if (served) {
        // fio stops; the reader ends with its connection.
        kill(client, SIGTERM);
        waitpid(client, NULL, 0);
        shutdown(listener, SHUT_RDWR);
        pthread_join(reader, NULL);
    }
    while (atomic_load(&outstanding) > 0) usleep(1000);

    printf("%s, block %zu depth %d: %.0f writes/s, %.1f us of CPU per write (%llu writes, %.2f s CPU in %.2f s)\n",
           served ? "served" : "direct", block, depth, writes / wall, cpu * 1e6 / writes, (unsigned long long)writes,
           cpu, wall);
    // Only the floor's own objects go: an image's stay, with what the floor
    // wrote in them (the image's data is the benchmark's, not a user's).
    if (own_objects) {
        for (uint64_t index = 0; index < region / object_size; index++) {
            char name[128];
            object_name(index, name);
            rados_remove(ioctx, name);
        }
    }
    rados_ioctx_destroy(ioctx);
    rados_shutdown(cluster);
    return atomic_load(&failed) ? 1 : 0;
}
