// The floor a replicated write's iodepth-1 latency and CPU stand on: the
// same messages as an NBD write and its replication, passed between
// processes over loopback TCP, with no work at all in between.
//
//   pair:    client -> server (4 KiB write request), server -> client (reply)
//   chain:   client -> primary -> replica, replica -> primary -> client,
//            the primary one thread
//   threads: the same chain, the primary two threads as buse's is: one
//            reads the client and sends to the replica, one reads the
//            replica and sends to the client, so each socket is read by one
//            thread while the other sends on it
//
// Every reader blocks in recv, or with a poll budget first polls for up to
// that long (sched_yield between tries, as buse's readers do), asking with
// a non-blocking recv (`recv`) or with poll (`poll`). Prints the mean round
// trip seen by the client and the CPU all processes spent per round trip
// (getrusage), so what a design with one more round trip costs on this
// machine is measured, not guessed.
//
// Build: cc -O2 -pthread -o hop_floor hop_floor.c
// Run:   hop_floor pair|chain|threads ROUND_TRIPS POLL_MICROSECONDS [recv|poll]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { request_size = 28 + 4096, frame_size = 32 + 4096, answer_size = 16 };

static long poll_ns;
static int ask_with_poll;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Reads exactly `count` bytes; the first wait polls for up to poll_ns.
static void read_exactly(int fd, char *buffer, size_t count) {
    size_t done = 0;
    long start = now_ns();
    while (done < count) {
        ssize_t got = recv(fd, buffer + done, count - done, MSG_DONTWAIT);
        if (got > 0) { done += (size_t)got; continue; }
        if (got == 0) exit(0);
        if (done == 0 && now_ns() - start < poll_ns) {
            sched_yield();
            // recv takes the socket's lock, and sleeps on it while another
            // thread sends on the socket; poll reads its state without it.
            struct pollfd entry = {.fd = fd, .events = POLLIN};
            while (ask_with_poll && poll(&entry, 1, 0) == 0 && now_ns() - start < poll_ns) sched_yield();
            continue;
        }
        got = recv(fd, buffer + done, count - done, 0);
        if (got <= 0) exit(got == 0 ? 0 : 1);
        done += (size_t)got;
    }
}

static void write_all(int fd, const char *buffer, size_t count) {
    while (count > 0) {
        ssize_t sent = send(fd, buffer, count, 0);
        if (sent <= 0) exit(1);
        buffer += sent;
        count -= (size_t)sent;
    }
}

static int listen_any(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, length) || listen(fd, 1)) exit(1);
    getsockname(fd, (struct sockaddr *)&address, &length);
    *port = ntohs(address.sin_port);
    return fd;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&address, sizeof address)) exit(1);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int accept_one(int listener) {
    int fd = accept(listener, NULL, NULL);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(listener);
    return fd;
}

// Answers every frame it reads (the replica, or the pair's server).
static void answer_forever(int fd, size_t incoming) {
    static char buffer[frame_size > request_size ? frame_size : request_size], answer[answer_size];
    for (;;) {
        read_exactly(fd, buffer, incoming);
        write_all(fd, answer, answer_size);
    }
}

// Forwards each request to the replica and answers once the replica has.
static void forward_forever(int client, int replica) {
    static char buffer[frame_size], answer[answer_size];
    for (;;) {
        read_exactly(client, buffer, request_size);
        write_all(replica, buffer, frame_size);
        read_exactly(replica, answer, answer_size);
        write_all(client, answer, answer_size);
    }
}

struct link { int client, replica; };

// The primary's second thread: the replica's answers, on to the client.
static void *answers_to_client(void *argument) {
    struct link *link = argument;
    static char answer[answer_size];
    for (;;) {
        read_exactly(link->replica, answer, answer_size);
        write_all(link->client, answer, answer_size);
    }
    return NULL;
}

// The primary's first thread: the client's requests, on to the replica.
static void forward_on_two_threads(int client, int replica) {
    static struct link link;
    link = (struct link){client, replica};
    pthread_t thread;
    pthread_create(&thread, NULL, answers_to_client, &link);
    static char buffer[frame_size];
    for (;;) {
        read_exactly(client, buffer, request_size);
        write_all(replica, buffer, frame_size);
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s pair|chain|threads ROUND_TRIPS POLL_MICROSECONDS [recv|poll]\n", argv[0]);
        return 2;
    }
    int threads = strcmp(argv[1], "threads") == 0;
    int chain = threads || strcmp(argv[1], "chain") == 0;
    long trips = atol(argv[2]);
    poll_ns = atol(argv[3]) * 1000;
    ask_with_poll = argc == 5 && strcmp(argv[4], "poll") == 0;

    int server_port, replica_port = 0;
    int server_listener = listen_any(&server_port);
    int replica_listener = chain ? listen_any(&replica_port) : -1;
    if (chain && fork() == 0) {
        close(server_listener);
        answer_forever(accept_one(replica_listener), frame_size);
    }
    if (fork() == 0) {
        int client = accept_one(server_listener);
        if (threads) forward_on_two_threads(client, connect_to(replica_port));
        if (chain) forward_forever(client, connect_to(replica_port));
        answer_forever(client, request_size);
    }
    close(server_listener);
    if (chain) close(replica_listener);

    int fd = connect_to(server_port);
    static char request[request_size], answer[answer_size];
    for (long i = 0; i < trips / 10; i++) {  // warm up
        write_all(fd, request, request_size);
        read_exactly(fd, answer, answer_size);
    }
    struct rusage before_self, after_self, children;
    getrusage(RUSAGE_SELF, &before_self);
    long start = now_ns();
    for (long i = 0; i < trips; i++) {
        write_all(fd, request, request_size);
        read_exactly(fd, answer, answer_size);
    }
    long elapsed = now_ns() - start;
    getrusage(RUSAGE_SELF, &after_self);
    close(fd);
    while (wait(NULL) > 0) {}
    getrusage(RUSAGE_CHILDREN, &children);  // includes the warm-up's share
#define US(t) ((t).tv_sec * 1e6 + (t).tv_usec)
    double client_cpu = US(after_self.ru_utime) - US(before_self.ru_utime) + US(after_self.ru_stime) - US(before_self.ru_stime);
    double servers_cpu = (US(children.ru_utime) + US(children.ru_stime)) * trips / (trips + trips / 10);
    printf("%s poll=%ldus by %s round_trip_us=%.2f client_cpu_us=%.2f servers_cpu_us=%.2f\n", argv[1], poll_ns / 1000, ask_with_poll ? "poll" : "recv",
           elapsed / 1e3 / trips, client_cpu / trips, servers_cpu / trips);
    return 0;
}
