// What the C floors need to be measured under the client buse is measured
// with: the smallest NBD handshake fio's nbd engine (libnbd) accepts, and
// fio itself. Included by rados_floor.c and pipeline_floor.c.
#ifndef NBD_FLOOR_H
#define NBD_FLOOR_H

#include <endian.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { nbd_request_header_size = 28, nbd_simple_reply_size = 16 };

// The first bytes of an NBD simple reply (NBD_SIMPLE_REPLY_MAGIC, big-endian).
static const unsigned char nbd_simple_reply_magic[4] = {0x67, 0x44, 0x66, 0x98};

static int nbd_floor_send_all(int fd, const void *bytes, size_t count) {
    const char *p = bytes;
    while (count > 0) {
        ssize_t sent = send(fd, p, count, MSG_NOSIGNAL);
        if (sent <= 0) return 0;
        p += sent;
        count -= (size_t)sent;
    }
    return 1;
}

static int nbd_floor_receive_all(int fd, void *bytes, size_t count) {
    char *p = bytes;
    while (count > 0) {
        ssize_t got = recv(fd, p, count, 0);
        if (got <= 0) return 0;
        p += got;
        count -= (size_t)got;
    }
    return 1;
}

// The fixed newstyle handshake, as little of it as fio's nbd engine needs:
// every option but GO and INFO is unsupported, and the export has `size`
// bytes and no flags beyond "has flags". 1 once GO is answered, 0 when the
// client leaves or fails.
static int nbd_floor_negotiate(int fd, uint64_t size) {
    char greeting[18];
    uint64_t magic = htobe64(0x4e42444d41474943ull), ihaveopt = htobe64(0x49484156454F5054ull);
    uint16_t flags = htobe16(3);  // fixed newstyle, no zeroes
    memcpy(greeting, &magic, 8);
    memcpy(greeting + 8, &ihaveopt, 8);
    memcpy(greeting + 16, &flags, 2);
    if (!nbd_floor_send_all(fd, greeting, sizeof greeting)) return 0;
    uint32_t client_flags;
    if (!nbd_floor_receive_all(fd, &client_flags, 4)) return 0;
    for (;;) {
        char header[16];
        if (!nbd_floor_receive_all(fd, header, sizeof header)) return 0;
        uint32_t option, length;
        memcpy(&option, header + 8, 4);
        memcpy(&length, header + 12, 4);
        option = be32toh(option);
        length = be32toh(length);
        char data[4096];
        if (length > sizeof data || !nbd_floor_receive_all(fd, data, length)) return 0;
        if (option == 2) return 0;  // NBD_OPT_ABORT
        char reply[20 + 12];
        uint64_t reply_magic = htobe64(0x3e889045565a9ull);
        uint32_t echoed = htobe32(option);
        memcpy(reply, &reply_magic, 8);
        memcpy(reply + 8, &echoed, 4);
        if (option == 6 || option == 7) {  // NBD_OPT_INFO, NBD_OPT_GO
            uint32_t type = htobe32(3), info_length = htobe32(12);  // NBD_REP_INFO
            uint16_t info = htobe16(0), transmission_flags = htobe16(1);  // NBD_INFO_EXPORT, has flags
            uint64_t export_size = htobe64(size);
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &info_length, 4);
            memcpy(reply + 20, &info, 2);
            memcpy(reply + 22, &export_size, 8);
            memcpy(reply + 30, &transmission_flags, 2);
            if (!nbd_floor_send_all(fd, reply, 32)) return 0;
            type = htobe32(1);  // NBD_REP_ACK
            uint32_t zero = 0;
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &zero, 4);
            if (!nbd_floor_send_all(fd, reply, 20)) return 0;
            if (option == 7) return 1;
        } else {
            uint32_t type = htobe32(0x80000001u), zero = 0;  // NBD_REP_ERR_UNSUP
            memcpy(reply + 12, &type, 4);
            memcpy(reply + 16, &zero, 4);
            if (!nbd_floor_send_all(fd, reply, 20)) return 0;
        }
    }
}

// fio's nbd engine as the benches drive buse: random writes for small
// blocks, sequential for large ones, over [0, size), for `seconds` (it
// connects twice: once to learn the size, then for the job). Its output
// goes to /dev/null; the caller counts writes on its side.
static pid_t nbd_floor_start_fio(uint16_t port, int depth, size_t block, uint64_t size, double seconds) {
    char uri[64], iodepth[32], bs[32], size_option[48], runtime[32];
    snprintf(uri, sizeof uri, "--uri=nbd://127.0.0.1:%u/", port);
    snprintf(iodepth, sizeof iodepth, "--iodepth=%d", depth);
    snprintf(bs, sizeof bs, "--bs=%zu", block);
    snprintf(size_option, sizeof size_option, "--size=%llu", (unsigned long long)size);
    snprintf(runtime, sizeof runtime, "--runtime=%.0f", seconds);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp("fio", "fio", "--name=floor", "--ioengine=nbd", uri, block >= (1u << 20) ? "--rw=write" : "--rw=randwrite",
               bs, iodepth, size_option, "--time_based", runtime, (char *)NULL);
        _exit(127);
    }
    return pid;
}

#endif
