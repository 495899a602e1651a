// What a replicated primary must spend per write (4K at iodepth 16, or any
// block size), whoever writes it: the least a server can do, in C, measured beside the least an
// unreplicated server can do, on the same machine in the same run.
//
//   unreplicated: one thread reads requests in batches, pwrites each
//                 payload to a file, and sends the batch's replies at once.
//   replicated:   the primary's first thread reads requests in batches,
//                 pwrites each, and forwards the batch to the replica in one
//                 writev (pointing into what it read: no copy); its second
//                 thread reads the replica's acknowledgements in batches and
//                 sends the client's replies at once. The replica reads
//                 frames in batches, pwrites each, and acknowledges the batch.
//   one-thread:   the same primary as one thread that polls both sockets and
//                 serves whichever is ready: not buse's shape (one reading
//                 thread per socket), measured to see what that shape costs.
//
// No journal, no checksum, no bookkeeping, no locks, no allocation: only the
// system calls and thread hand-offs the structure needs. The client keeps
// DEPTH requests in flight (a new one for each reply, sent as a batch) over
// loopback TCP. Each server process's CPU comes from wait4's rusage, per
// write; the ratios are the floor under bench/run.py's bars for any design
// of this shape (a reading thread per socket), not a target; `one-thread`
// is the floor of the other shape.
//
// The client's CPU is printed too, so the machine's CPU per write (client,
// server and replica) can be set beside issue 15's machine bar.
//
// Build: cc -O2 -pthread -o pipeline_floor pipeline_floor.c
// Run:   pipeline_floor unreplicated|replicated|one-thread DIRECTORY [SECONDS] [DEPTH] [BLOCK]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    header_size = 28,  // an NBD request header
    frame_header_size = 32,
    answer_size = 16,  // an NBD simple reply; the replica's acknowledgement
};

// Set once in main from BLOCK (default 4096): a read buffer holds at least
// two whole requests.
static size_t block = 4096, request_size, buffer_size, blocks;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void write_all(int fd, const void *bytes, size_t count) {
    const char *p = bytes;
    while (count > 0) {
        ssize_t sent = send(fd, p, count, MSG_NOSIGNAL);
        if (sent <= 0) exit(0);
        p += sent;
        count -= (size_t)sent;
    }
}

static void writev_all(int fd, struct iovec *vectors, int count) {
    while (count > 0) {
        ssize_t sent = writev(fd, vectors, count > IOV_MAX ? IOV_MAX : count);
        if (sent <= 0) exit(0);
        while (count > 0 && (size_t)sent >= vectors->iov_len) {
            sent -= (ssize_t)vectors->iov_len;
            vectors++;
            count--;
        }
        if (count > 0) {
            vectors->iov_base = (char *)vectors->iov_base + sent;
            vectors->iov_len -= (size_t)sent;
        }
    }
}

// A stream read in batches: `have` bytes buffered from `start`.
struct stream {
    int fd;
    char *buffer;
    size_t start, have;
};

// Reads at least once more (blocking); false at the end of the stream.
static int refill(struct stream *s) {
    if (s->start > 0) {
        memmove(s->buffer, s->buffer + s->start, s->have);
        s->start = 0;
    }
    ssize_t got = recv(s->fd, s->buffer + s->have, buffer_size - s->have, 0);
    if (got <= 0) return 0;
    s->have += (size_t)got;
    return 1;
}

// Made and allocated by the parent before anything is timed: allocating
// 1 GiB of tmpfs costs about 0.3 s of CPU, which counted in a server's
// rusage added 0.3-0.4 us to each of a 4 s run's writes.
static void allocate_file(const char *directory, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die(path);
    if (posix_fallocate(fd, 0, (off_t)blocks * block)) die("posix_fallocate");
    close(fd);
}

static int file_descriptor(const char *directory, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    int fd = open(path, O_RDWR);
    if (fd < 0) die(path);
    return fd;
}

static uint64_t offset_of(const char *header) {
    uint64_t offset;
    memcpy(&offset, header + 16, sizeof offset);
    return offset;
}

// The unreplicated server and the replica: read a batch, write each, answer the batch.
static void serve(int fd, int file, size_t message_size, size_t header) {
    struct stream s = {fd, malloc(buffer_size), 0, 0};
    char *answers = calloc(buffer_size / message_size + 1, answer_size);
    while (refill(&s)) {
        size_t count = 0;
        while (s.have >= message_size) {
            const char *message = s.buffer + s.start;
            if (pwrite(file, message + header, block, (off_t)offset_of(message)) != (ssize_t)block) die("pwrite");
            s.start += message_size;
            s.have -= message_size;
            count++;
        }
        if (count > 0) write_all(fd, answers, count * answer_size);
    }
    exit(0);
}

// Writes the batch of requests in `s` locally and forwards it to the replica
// in one writev; false at the end of the client's stream.
static int forward_batch(struct stream *s, int replica, int file, char (*frame_headers)[frame_header_size],
                         struct iovec *vectors) {
    if (!refill(s)) return 0;
    int count = 0;
    while (s->have >= request_size) {
        const char *request = s->buffer + s->start;
        if (pwrite(file, request + header_size, block, (off_t)offset_of(request)) != (ssize_t)block) die("pwrite");
        memcpy(frame_headers[count] + 16, request + 16, 8);
        vectors[2 * count] = (struct iovec){frame_headers[count], frame_header_size};
        vectors[2 * count + 1] = (struct iovec){(char *)request + header_size, block};
        s->start += request_size;
        s->have -= request_size;
        count++;
    }
    if (count > 0) writev_all(replica, vectors, 2 * count);
    return 1;
}

// Reads the acknowledgements in `s` and answers the client for each; false
// at the end of the replica's stream.
static int answer_batch(struct stream *s, int client, const char *replies) {
    if (!refill(s)) return 0;
    size_t count = s->have / answer_size;
    s->start += count * answer_size;
    s->have -= count * answer_size;
    if (count > 0) write_all(client, replies, count * answer_size);
    return 1;
}

struct primary { int client, replica; };

// The primary's second thread: acknowledgements in, replies out.
static void *acknowledge(void *argument) {
    struct primary *p = argument;
    struct stream s = {p->replica, malloc(buffer_size), 0, 0};
    char *replies = calloc(buffer_size / answer_size + 1, answer_size);
    while (answer_batch(&s, p->client, replies)) {}
    exit(0);
}

// The primary's first thread: requests in, written locally, frames out.
static void forward(int client, int replica, int file) {
    static struct primary p;
    p = (struct primary){client, replica};
    pthread_t thread;
    pthread_create(&thread, NULL, acknowledge, &p);
    struct stream s = {client, malloc(buffer_size), 0, 0};
    char (*frame_headers)[frame_header_size] = calloc(buffer_size / request_size + 1, frame_header_size);
    struct iovec *vectors = calloc(2 * (buffer_size / request_size + 1), sizeof *vectors);
    while (forward_batch(&s, replica, file, frame_headers, vectors)) {}
    shutdown(replica, SHUT_WR);
    pthread_join(thread, NULL);
    exit(0);
}

// The other shape: one thread polls both sockets and serves whichever is ready.
static void forward_one_thread(int client, int replica, int file) {
    struct stream requests = {client, malloc(buffer_size), 0, 0};
    struct stream acknowledgements = {replica, malloc(buffer_size), 0, 0};
    char *replies = calloc(buffer_size / answer_size + 1, answer_size);
    char (*frame_headers)[frame_header_size] = calloc(buffer_size / request_size + 1, frame_header_size);
    struct iovec *vectors = calloc(2 * (buffer_size / request_size + 1), sizeof *vectors);
    struct pollfd ready[2] = {{client, POLLIN, 0}, {replica, POLLIN, 0}};
    for (;;) {
        if (poll(ready, 2, -1) < 0) die("poll");
        if (ready[1].revents && !answer_batch(&acknowledgements, client, replies)) exit(0);
        if (ready[0].revents && !forward_batch(&requests, replica, file, frame_headers, vectors)) {
            shutdown(replica, SHUT_WR);
            exit(0);
        }
    }
}

static int listener(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, length) || listen(fd, 1)) die("listen");
    getsockname(fd, (struct sockaddr *)&address, &length);
    *port = ntohs(address.sin_port);
    return fd;
}

static int no_delay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&address, sizeof address)) die("connect");
    return no_delay(fd);
}

static int accept_one(int fd) {
    int accepted = accept(fd, NULL, NULL);
    if (accepted < 0) die("accept");
    close(fd);
    return no_delay(accepted);
}

static double cpu_us(struct rusage *usage) {
    return (usage->ru_utime.tv_sec + usage->ru_stime.tv_sec) * 1e6 + usage->ru_utime.tv_usec + usage->ru_stime.tv_usec;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 6
        || (strcmp(argv[1], "unreplicated") && strcmp(argv[1], "replicated") && strcmp(argv[1], "one-thread"))) {
        fprintf(stderr, "usage: %s unreplicated|replicated|one-thread DIRECTORY [SECONDS] [DEPTH] [BLOCK]\n", argv[0]);
        return 2;
    }
    block = argc > 5 ? strtoul(argv[5], NULL, 0) : 4096;
    if (block < 512 || block % 512) {
        fprintf(stderr, "BLOCK must be a multiple of 512\n");
        return 2;
    }
    request_size = header_size + block;
    buffer_size = 2 * request_size > 256 * 1024 ? 2 * request_size : 256 * 1024;
    blocks = (1 << 30) / block;
    int one_thread = strcmp(argv[1], "one-thread") == 0;
    int replicated = one_thread || strcmp(argv[1], "replicated") == 0;
    double seconds = argc > 3 ? atof(argv[3]) : 4;
    int depth = argc > 4 ? atoi(argv[4]) : 16;

    allocate_file(argv[2], "primary.img");
    if (replicated) allocate_file(argv[2], "replica.img");
    struct rusage client_before;
    getrusage(RUSAGE_SELF, &client_before);

    int server_port, replica_port = 0;
    int server_listener = listener(&server_port);
    int replica_listener = replicated ? listener(&replica_port) : -1;
    pid_t replica = 0;
    if (replicated && (replica = fork()) == 0) {
        close(server_listener);
        int file = file_descriptor(argv[2], "replica.img");
        serve(accept_one(replica_listener), file, frame_header_size + block, frame_header_size);
    }
    pid_t server = fork();
    if (server == 0) {
        if (replicated) close(replica_listener);
        int file = file_descriptor(argv[2], "primary.img");
        int client = accept_one(server_listener);
        if (one_thread) forward_one_thread(client, connect_to(replica_port), file);
        if (replicated) forward(client, connect_to(replica_port), file);
        serve(client, file, request_size, header_size);
    }
    close(server_listener);
    if (replicated) close(replica_listener);

    // The client: DEPTH in flight, a new request (random offset) per reply.
    int fd = connect_to(server_port);
    char *requests = calloc((size_t)depth, request_size);
    unsigned seed = 1;
    for (int i = 0; i < depth; i++) {
        uint64_t offset = (uint64_t)(rand_r(&seed) % blocks) * block;
        memcpy(requests + (size_t)i * request_size + 16, &offset, sizeof offset);
    }
    write_all(fd, requests, (size_t)depth * request_size);
    char replies[4096];
    size_t partial = 0;
    long done = 0, measured = 0;
    double start = now_seconds(), warm = start + seconds / 4, end = warm + seconds;
    int measuring = 0;
    for (;;) {
        ssize_t got = recv(fd, replies + partial, sizeof replies - partial, 0);
        if (got <= 0) die("client recv");
        partial += (size_t)got;
        int count = (int)(partial / answer_size);
        partial %= answer_size;
        done += count;
        double now = now_seconds();
        if (!measuring && now >= warm) {
            measuring = 1;
            measured = done;
            start = now;
        }
        if (now >= end) {
            measured = done - measured;
            end = now;
            break;
        }
        for (int i = 0; i < count; i++) {
            uint64_t offset = (uint64_t)(rand_r(&seed) % blocks) * block;
            memcpy(requests + (size_t)i * request_size + 16, &offset, sizeof offset);
        }
        write_all(fd, requests, (size_t)count * request_size);
    }
    close(fd);
    struct rusage server_usage, replica_usage = {0};
    int status;
    wait4(server, &status, 0, &server_usage);
    if (replicated) wait4(replica, &status, 0, &replica_usage);
    // The CPU is over the whole run (warm-up included); writes are counted
    // over the whole run too, so the ratio is per write.
    double writes = (double)done;
    struct rusage client_usage;
    getrusage(RUSAGE_SELF, &client_usage);
    double client_cpu_us = cpu_us(&client_usage) - cpu_us(&client_before);
    printf("%s block=%zu depth=%d writes_per_s=%.0f server_cpu_us_per_write=%.2f replica_cpu_us_per_write=%.2f "
           "client_cpu_us_per_write=%.2f\n", argv[1], block, depth, measured / (end - start),
           cpu_us(&server_usage) / writes, cpu_us(&replica_usage) / writes, client_cpu_us / writes);
    return 0;
}
