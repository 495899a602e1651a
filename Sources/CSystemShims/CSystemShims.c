#define _GNU_SOURCE
#include "CSystemShims.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

int buse_block_device_size(int fd, uint64_t *size) {
    return ioctl(fd, BLKGETSIZE64, size);
}

int buse_punch_hole(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

int buse_zero_range(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

int buse_allocate(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

ssize_t buse_pwrite_dsync(int fd, const void *buffer, size_t length, uint64_t offset) {
    struct iovec vector = { .iov_base = (void *)buffer, .iov_len = length };
    return pwritev2(fd, &vector, 1, (off_t)offset, RWF_DSYNC);
}


off_t buse_seek_data(int fd, uint64_t offset) {
    return lseek(fd, (off_t)offset, SEEK_DATA);
}

off_t buse_seek_hole(int fd, uint64_t offset) {
    return lseek(fd, (off_t)offset, SEEK_HOLE);
}

// CRC-32C: hardware instruction where present, a bytewise table otherwise.
static uint32_t crc32c_table[256];

static void crc32c_fill_table(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; bit++) value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : value >> 1;
        crc32c_table[index] = value;
    }
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *bytes, size_t length) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_fill_table);
    for (size_t index = 0; index < length; index++) crc = crc32c_table[(crc ^ bytes[index]) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *bytes, size_t length) {
    uint64_t wide = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        length -= 8;
    }
    crc = (uint32_t)wide;
    while (length > 0) {
        crc = __builtin_ia32_crc32qi(crc, *bytes++);
        length--;
    }
    return crc;
}
#endif

uint32_t buse_crc32c(uint32_t crc, const void *bytes, size_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, bytes, length);
#endif
    return ~crc32c_software(crc, bytes, length);
}

static _Thread_local int resumes_inline;

int buse_resumes_inline(void) { return resumes_inline; }

void buse_set_resumes_inline(int value) { resumes_inline = value; }

static _Thread_local void *current_plug;

void *buse_current_plug(void) { return current_plug; }

void buse_set_current_plug(void *plug) { current_plug = plug; }
