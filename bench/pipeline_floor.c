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
// CLIENT `own` (the default) is the client above: as light as a client
// can be. `fio` is the client buse is measured with, fio's nbd engine
// (random writes of BLOCK over the file, DEPTH in flight), after the
// smallest handshake it accepts (nbd_floor.h): where a ratio includes the
// client's own time (the mean latency at depth 1, 1 / writes_per_s) or its
// pace (how long a reader waits), the floor then waits as buse does. The
// servers count writes in memory shared with the parent, which measures
// the rate over SECONDS after a quarter of that to warm up; CPU is per
// write over the whole run, as with `own`.
//
// POLL (microseconds, default 0) makes every server reader poll its socket
// that long (sched_yield between tries, as buse's readers do) before it
// blocks in recv; the client always blocks, as fio does. At DEPTH 1 that is
// what decides latency and CPU: each wait a poll catches saves a wake-up,
// each poll that misses is CPU spent for nothing. The mean latency at depth
// 1 is 1 / writes_per_s.
//
// Build: cc -O2 -pthread -o pipeline_floor pipeline_floor.c
// Run:   pipeline_floor unreplicated|replicated|one-thread DIRECTORY [SECONDS] [DEPTH] [BLOCK] [POLL] [CLIENT]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nbd_floor.h"

enum {
    header_size = nbd_request_header_size,
    // Like a request's: the handle at 8, the offset at 16.
    frame_header_size = 32,
    // An NBD simple reply; the replica's acknowledgement is the client's
    // reply already (the frame carries the request's handle), so the
    // primary passes it on as it is.
    answer_size = nbd_simple_reply_size,
};

// Set once in main from BLOCK (default 4096): a read buffer holds at least
// two whole requests.
static size_t block = 4096, request_size, buffer_size, blocks;
// Set once in main from POLL.
static double poll_seconds;
// Writes served by the server or the primary, in memory shared with the
// parent, which reads the rate from it when fio is the client.
static volatile uint64_t *served;
// The primary's client: with fio, each connection in turn (it connects
// twice), read by the thread that passes the replica's answers on.
static volatile int current_client = -1;

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

// Polls until `fd` is readable or POLL has passed; blocking is the caller's.
static void poll_briefly(struct pollfd *ready, nfds_t count) {
    if (poll_seconds <= 0) return;
    double deadline = now_seconds() + poll_seconds;
    while (poll(ready, count, 0) == 0 && now_seconds() < deadline) sched_yield();
}

// Reads at least once more (polling, then blocking); false at the end of the stream.
static int refill(struct stream *s) {
    if (s->start > 0) {
        memmove(s->buffer, s->buffer + s->start, s->have);
        s->start = 0;
    }
    struct pollfd ready = {s->fd, POLLIN, 0};
    poll_briefly(&ready, 1);
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
    return be64toh(offset);
}

enum { nbd_cmd_write = 1, nbd_cmd_disc = 2 };

// A request's type; only writes and the disconnect are expected (fio's
// randwrite job sends nothing else).
static int is_write(const char *request) {
    uint16_t type;
    memcpy(&type, request + 6, sizeof type);
    type = be16toh(type);
    if (type != nbd_cmd_write && type != nbd_cmd_disc) {
        fprintf(stderr, "pipeline_floor: request type %u: only writes are served\n", type);
        exit(1);
    }
    return type == nbd_cmd_write;
}

// The simple reply, without error, to the message with this header.
static void answer(char *reply, const char *header) {
    memcpy(reply, nbd_simple_reply_magic, 4);
    memset(reply + 4, 0, 4);
    memcpy(reply + 8, header + 8, 8);
}

// The unreplicated server and the replica: read a batch, write each, answer
// the batch. Returns at the end of the stream or at a disconnect.
static void serve(int fd, int file, size_t message_size, size_t header) {
    struct stream s = {fd, malloc(buffer_size), 0, 0};
    char *answers = malloc((buffer_size / header_size + 1) * answer_size);
    int disconnected = 0;
    while (!disconnected && refill(&s)) {
        size_t count = 0;
        while (s.have >= header) {
            const char *message = s.buffer + s.start;
            // A disconnect is a request header alone.
            if (header == header_size && !is_write(message)) {
                disconnected = 1;
                break;
            }
            if (s.have < message_size) break;
            if (pwrite(file, message + header, block, (off_t)offset_of(message)) != (ssize_t)block) die("pwrite");
            if (header == header_size) *served += 1;
            answer(answers + count * answer_size, message);
            s.start += message_size;
            s.have -= message_size;
            count++;
        }
        if (count > 0) write_all(fd, answers, count * answer_size);
    }
    free(s.buffer);
    free(answers);
}

// Writes the batch of requests in `s` locally and forwards it to the replica
// in one writev; false at the end of the client's stream or at a disconnect.
static int forward_batch(struct stream *s, int replica, int file, char (*frame_headers)[frame_header_size],
                         struct iovec *vectors) {
    if (!refill(s)) return 0;
    int count = 0, disconnected = 0;
    while (s->have >= header_size) {
        const char *request = s->buffer + s->start;
        if (!is_write(request)) {
            disconnected = 1;
            break;
        }
        if (s->have < request_size) break;
        if (pwrite(file, request + header_size, block, (off_t)offset_of(request)) != (ssize_t)block) die("pwrite");
        *served += 1;
        memcpy(frame_headers[count] + 8, request + 8, 16);  // handle and offset
        vectors[2 * count] = (struct iovec){frame_headers[count], frame_header_size};
        vectors[2 * count + 1] = (struct iovec){(char *)request + header_size, block};
        s->start += request_size;
        s->have -= request_size;
        count++;
    }
    if (count > 0) writev_all(replica, vectors, 2 * count);
    return !disconnected;
}

// Passes the replica's answers in `s` (the client's replies) on to the
// client (read once they are in: with fio, the client may have changed
// while this waited); false at the end of the replica's stream.
static int answer_batch(struct stream *s, volatile int *client) {
    if (!refill(s)) return 0;
    size_t count = s->have / answer_size;
    if (count > 0) write_all(*client, s->buffer + s->start, count * answer_size);
    s->start += count * answer_size;
    s->have -= count * answer_size;
    return 1;
}

// The primary's second thread: acknowledgements in, replies out.
static void *acknowledge(void *replica) {
    struct stream s = {*(int *)replica, malloc(buffer_size), 0, 0};
    while (answer_batch(&s, &current_client)) {}
    exit(0);
}

// The primary's first thread: requests in, written locally, frames out.
// Returns at the end of the client's stream or at its disconnect.
static void forward(int client, int replica, int file) {
    current_client = client;
    struct stream s = {client, malloc(buffer_size), 0, 0};
    char (*frame_headers)[frame_header_size] = calloc(buffer_size / request_size + 1, frame_header_size);
    struct iovec *vectors = calloc(2 * (buffer_size / request_size + 1), sizeof *vectors);
    while (forward_batch(&s, replica, file, frame_headers, vectors)) {}
    free(s.buffer);
    free(frame_headers);
    free(vectors);
}

// The other shape: one thread polls both sockets and serves whichever is ready.
static void forward_one_thread(volatile int client, int replica, int file) {
    struct stream requests = {client, malloc(buffer_size), 0, 0};
    struct stream acknowledgements = {replica, malloc(buffer_size), 0, 0};
    char (*frame_headers)[frame_header_size] = calloc(buffer_size / request_size + 1, frame_header_size);
    struct iovec *vectors = calloc(2 * (buffer_size / request_size + 1), sizeof *vectors);
    struct pollfd ready[2] = {{client, POLLIN, 0}, {replica, POLLIN, 0}};
    for (;;) {
        poll_briefly(ready, 2);
        if (poll(ready, 2, -1) < 0) die("poll");
        if (ready[1].revents && !answer_batch(&acknowledgements, &client)) exit(0);
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

// The server's process. With its own client: one connection, then exit.
// With fio: each connection in turn (the primary keeps one link to the
// replica and one thread passing its answers on) until the parent ends it.
static void run_server(int listener_fd, int replica_port, int file, int replicated, int one_thread, int use_fio) {
    static int replica = -1;
    pthread_t thread;
    if (replicated && !one_thread) {
        replica = connect_to(replica_port);
        pthread_create(&thread, NULL, acknowledge, &replica);
    }
    do {
        int client;
        if (use_fio) {
            if ((client = accept(listener_fd, NULL, NULL)) < 0) die("accept");
            if (!nbd_floor_negotiate(no_delay(client), (uint64_t)blocks * block)) {
                close(client);
                continue;
            }
        } else {
            client = accept_one(listener_fd);
        }
        if (one_thread) forward_one_thread(client, connect_to(replica_port), file);  // does not return
        else if (replicated) forward(client, replica, file);
        else serve(client, file, request_size, header_size);
        if (use_fio) close(client);
    } while (use_fio);
    if (replica >= 0) {
        // The second thread ends the process once the replica has answered all.
        shutdown(replica, SHUT_WR);
        pthread_join(thread, NULL);
    }
    exit(0);
}

static double cpu_us(struct rusage *usage) {
    return (usage->ru_utime.tv_sec + usage->ru_stime.tv_sec) * 1e6 + usage->ru_utime.tv_usec + usage->ru_stime.tv_usec;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 8
        || (strcmp(argv[1], "unreplicated") && strcmp(argv[1], "replicated") && strcmp(argv[1], "one-thread"))
        || (argc > 7 && strcmp(argv[7], "own") && strcmp(argv[7], "fio"))) {
        fprintf(stderr,
                "usage: %s unreplicated|replicated|one-thread DIRECTORY [SECONDS] [DEPTH] [BLOCK] [POLL] [own|fio]\n",
                argv[0]);
        return 2;
    }
    block = argc > 5 ? strtoul(argv[5], NULL, 0) : 4096;
    if (block < 512 || block % 512) {
        fprintf(stderr, "BLOCK must be a multiple of 512\n");
        return 2;
    }
    poll_seconds = argc > 6 ? atof(argv[6]) / 1e6 : 0;
    int use_fio = argc > 7 && strcmp(argv[7], "fio") == 0;
    request_size = header_size + block;
    buffer_size = 2 * request_size > 256 * 1024 ? 2 * request_size : 256 * 1024;
    blocks = (1 << 30) / block;
    int one_thread = strcmp(argv[1], "one-thread") == 0;
    int replicated = one_thread || strcmp(argv[1], "replicated") == 0;
    double seconds = argc > 3 ? atof(argv[3]) : 4;
    int depth = argc > 4 ? atoi(argv[4]) : 16;
    if (use_fio && one_thread) {
        fprintf(stderr, "one-thread is measured with its own client only\n");
        return 2;
    }
    served = mmap(NULL, sizeof *served, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (served == MAP_FAILED) die("mmap");

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
        exit(0);
    }
    pid_t server = fork();
    if (server == 0) {
        if (replicated) close(replica_listener);
        run_server(server_listener, replica_port, file_descriptor(argv[2], "primary.img"), replicated, one_thread,
                   use_fio);
    }
    close(server_listener);
    if (replicated) close(replica_listener);

    double measured_writes, measured_seconds, client_cpu_us;
    struct rusage server_usage, replica_usage = {0};
    int status;
    if (use_fio) {
        // fio runs until stopped; the rate is read from the servers' count.
        pid_t fio = nbd_floor_start_fio((uint16_t)server_port, depth, block, (uint64_t)blocks * block,
                                        seconds * 2 + 60);
        double deadline = now_seconds() + 60;
        while (*served == 0) {
            if (now_seconds() > deadline || waitpid(fio, &status, WNOHANG) != 0) {
                fprintf(stderr, "pipeline_floor: fio wrote nothing (is fio installed?)\n");
                kill(server, SIGKILL);
                return 1;
            }
            usleep(1000);
        }
        usleep((useconds_t)(seconds / 4 * 1e6));
        uint64_t first = *served;
        double start = now_seconds();
        usleep((useconds_t)(seconds * 1e6));
        measured_writes = (double)(*served - first);
        measured_seconds = now_seconds() - start;
        struct rusage fio_usage;
        kill(fio, SIGTERM);
        wait4(fio, &status, 0, &fio_usage);
        client_cpu_us = cpu_us(&fio_usage);
        kill(server, SIGKILL);
        wait4(server, &status, 0, &server_usage);
    } else {
        // The client: DEPTH in flight, a new request (random offset) per reply.
        int fd = connect_to(server_port);
        char *requests = calloc((size_t)depth, request_size);
        uint16_t write_type = htobe16(nbd_cmd_write);
        unsigned seed = 1;
        for (int i = 0; i < depth; i++) {
            uint64_t offset = htobe64((uint64_t)(rand_r(&seed) % blocks) * block);
            memcpy(requests + (size_t)i * request_size + 6, &write_type, sizeof write_type);
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
                uint64_t offset = htobe64((uint64_t)(rand_r(&seed) % blocks) * block);
                memcpy(requests + (size_t)i * request_size + 16, &offset, sizeof offset);
            }
            write_all(fd, requests, (size_t)count * request_size);
        }
        close(fd);
        measured_writes = (double)measured;
        measured_seconds = end - start;
        wait4(server, &status, 0, &server_usage);
        struct rusage client_usage;
        getrusage(RUSAGE_SELF, &client_usage);
        client_cpu_us = cpu_us(&client_usage) - cpu_us(&client_before);
    }
    if (replicated) wait4(replica, &status, 0, &replica_usage);
    // The CPU is over the whole run (warm-up included); writes are counted
    // over the whole run too, so the ratio is per write.
    double writes = (double)*served;
    printf("%s block=%zu depth=%d poll_us=%.0f client=%s writes_per_s=%.0f server_cpu_us_per_write=%.2f "
           "replica_cpu_us_per_write=%.2f client_cpu_us_per_write=%.2f\n",
           argv[1], block, depth, poll_seconds * 1e6, use_fio ? "fio" : "own", measured_writes / measured_seconds,
           cpu_us(&server_usage) / writes, cpu_us(&replica_usage) / writes, client_cpu_us / writes);
    return 0;
}
