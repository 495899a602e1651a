// What a librados client must spend per write, whoever it is: the least a
// program can do through librados' C API (the API buse uses), measured on the
// same cluster in the same run as buse, so that issue 15's bar on buse's own
// CPU per RADOS write (35 µs at 4K, 450 µs at 1 MiB) can be set beside it.
//
// One process, no NBD, no threads of its own: DEPTH writes of BLOCK bytes are
// kept in flight with rados_aio_write, each completion's callback (run on
// librados' completion thread, as buse's are) submits the next write. Objects
// are 4 MiB, named like an image's data objects; offsets are random and
// BLOCK-aligned within REGION (4K) or sequential (BLOCK of 1 MiB and more),
// as bench/rados_breakdown.py's fio jobs are. The objects are written whole
// first, so every measured write lands in an existing object, as buse's do
// after that script's preconditioning.
//
// CPU comes from getrusage(RUSAGE_SELF) over the measured window: every
// thread librados runs (messenger, completions, timers) and the callbacks.
// What it does not contain is any server's side of NBD (receiving a request,
// sending its reply), which bench/rados_breakdown.py prints beside it.
//
// Build: cc -O2 -pthread -o rados_floor rados_floor.c -lrados
// Run:   rados_floor CEPH_CONF POOL [SECONDS] [DEPTH] [BLOCK] [REGION_MIB]
#define _GNU_SOURCE
#include <pthread.h>
#include <rados/librados.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { object_size = 4 << 20, max_depth = 256 };

static rados_ioctx_t ioctx;
static size_t block = 4096;
static uint64_t region = 1ull << 30;
static char *payload;
static atomic_uint_fast64_t completed, next_sequential;
static atomic_int stopping, failed, outstanding;

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

static void object_name(uint64_t index, char name[32]) {
    snprintf(name, 32, "floor_data.%016llx", (unsigned long long)index);
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
    char name[32];
    object_name(offset / object_size, name);
    rados_completion_t completion;
    int code = rados_aio_create_completion2(NULL, written, &completion);
    if (code < 0) fail("rados_aio_create_completion2", code);
    code = rados_aio_write(ioctx, name, completion, payload, block, offset % object_size);
    if (code < 0) fail("rados_aio_write", code);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rados_floor CEPH_CONF POOL [SECONDS] [DEPTH] [BLOCK] [REGION_MIB]\n");
        return 2;
    }
    double seconds = argc > 3 ? atof(argv[3]) : 8;
    int depth = argc > 4 ? atoi(argv[4]) : 16;
    if (argc > 5) block = strtoull(argv[5], NULL, 10);
    if (argc > 6) region = strtoull(argv[6], NULL, 10) << 20;
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

    // Whole objects first, so that measured writes overwrite.
    char *whole = calloc(1, object_size);
    payload = malloc(block);
    if (whole == NULL || payload == NULL) fail("malloc", -12);
    memset(payload, 0xa5, block);
    for (uint64_t index = 0; index < region / object_size; index++) {
        char name[32];
        object_name(index, name);
        if ((code = rados_write_full(ioctx, name, whole, object_size)) < 0) fail("rados_write_full", code);
    }
    free(whole);

    atomic_store(&outstanding, depth);
    for (int i = 0; i < depth; i++) submit();
    // A second of warm-up, then the measured window.
    usleep(1000000);
    uint64_t writes_before = atomic_load(&completed);
    double cpu_before = cpu_seconds(), wall_before = now_seconds();
    usleep((useconds_t)(seconds * 1e6));
    uint64_t writes = atomic_load(&completed) - writes_before;
    double cpu = cpu_seconds() - cpu_before, wall = now_seconds() - wall_before;
    atomic_store(&stopping, 1);
    while (atomic_load(&outstanding) > 0) usleep(1000);

    printf("block %zu depth %d: %.0f writes/s, %.1f us of CPU per write (%llu writes, %.2f s CPU in %.2f s)\n", block,
           depth, writes / wall, cpu * 1e6 / writes, (unsigned long long)writes, cpu, wall);
    for (uint64_t index = 0; index < region / object_size; index++) {
        char name[32];
        object_name(index, name);
        rados_remove(ioctx, name);
    }
    rados_ioctx_destroy(ioctx);
    rados_shutdown(cluster);
    return atomic_load(&failed) ? 1 : 0;
}
