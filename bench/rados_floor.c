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

static void send_all(int fd, const void *bytes, size_t count) {
    const char *p = bytes;
    while (count > 0) {
        ssize_t sent = send(fd, p, count, MSG_NOSIGNAL);
        if (sent <= 0) fail("send", sent < 0 ? -errno : -EPIPE);
        p += sent;
        count -= (size_t)sent;
    }
}

static int receive_all(int fd, void *bytes, size_t count) {
    char *p = bytes;
    while (count > 0) {
        ssize_t got = recv(fd, p, count, 0);
        if (got <= 0) return 0;
        p += got;
        count -= (size_t)got;
    }
    return 1;
}

// The fixed newstyle handshake, as little of it as fio's nbd engine
// (libnbd) needs: every option but GO and INFO is unsupported, and the
// export has the region's size and no flags beyond "has flags".
static int negotiate(int fd) {
    char greeting[18];
    uint64_t magic = htobe64(0x4e42444d41474943ull), ihaveopt = htobe64(0x49484156454F5054ull);
    uint16_t flags = htobe16(3);  // fixed newstyle, no zeroes
    memcpy(greeting, &magic, 8);
    memcpy(greeting + 8, &ihaveopt, 8);
    memcpy(greeting + 16, &flags, 2);
    send_all(fd, greeting, sizeof greeting);
    uint32_t client_flags;
    if (!receive_all(fd, &client_flags, 4)) return 0;
    for (;;) {
        char header[16];
        if (!receive_all(fd, header, sizeof header)) return 0;
        uint32_t option, length;
        memcpy(&option, header + 8, 4);
        memcpy(&length, header + 12, 4);
        option = be32toh(option);
        length = be32toh(length);
        char data[4096];
        if (length > sizeof data || !receive_all(fd, data, length)) return 0;
        if (option == 2) return 0;  // NBD_OPT_ABORT
        char reply[20 + 12];
        uint64_t reply_magic = htobe64(0x3e889045565a9ull);
        uint32_t echoed = htobe32(option);
        memcpy(reply, &reply_magic, 8);
        memcpy(reply + 8, &echoed, 4);
        if (option == 6 || option == 7) {  // NBD_OPT_INFO, NBD_OPT_GO
            uint32_t type = htobe32(3), info_length = htobe32(12);  // NBD_REP_INFO
            uint16_t info = htobe16(0), transmission_flags = htobe16(1);  // NBD_INFO_EXPORT, has flags
            uint64_t size = htobe64(region);
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &info_length, 4);
            memcpy(reply + 20, &info, 2);
            memcpy(reply + 22, &size, 8);
            memcpy(reply + 30, &transmission_flags, 2);
            send_all(fd, reply, 32);
            type = htobe32(1);  // NBD_REP_ACK
            uint32_t zero = 0;
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &zero, 4);
            send_all(fd, reply, 20);
            if (option == 7) return 1;
        } else {
            uint32_t type = htobe32(0x80000001u), zero = 0;  // NBD_REP_ERR_UNSUP
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &zero, 4);
            send_all(fd, reply, 20);
        }
    }
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
        if (negotiate(client_socket)) serve_requests();
        close(client_socket);
    }
}

// fio's nbd engine, as bench/rados_breakdown.py drives buse: random writes
// for small blocks, sequential for large ones, over the region.
static pid_t start_fio(uint16_t port, int depth, double seconds) {
    char uri[64], iodepth[32], bs[32], size[32], runtime[32];
    snprintf(uri, sizeof uri, "--uri=nbd://127.0.0.1:%u/", port);
    snprintf(iodepth, sizeof iodepth, "--iodepth=%d", depth);
    snprintf(bs, sizeof bs, "--bs=%zu", block);
    snprintf(size, sizeof size, "--size=%llu", (unsigned long long)region);
    snprintf(runtime, sizeof runtime, "--runtime=%.0f", seconds + 3);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp("fio", "fio", "--name=floor", "--ioengine=nbd", uri, block >= (1u << 20) ? "--rw=write" : "--rw=randwrite",
               bs, iodepth, size, "--time_based", runtime, (char *)NULL);
        _exit(127);
    }
    return pid;
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
        client = start_fio(ntohs(address.sin_port), depth, seconds);
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
