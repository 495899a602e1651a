#define _GNU_SOURCE
#include "CSystemShims.h"

#include <fcntl.h>
#include <pthread.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
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

static _Thread_local int resumes_inline;

int buse_resumes_inline(void) { return resumes_inline; }

void buse_set_resumes_inline(int value) { resumes_inline = value; }

static _Thread_local int in_library_callback;

int buse_in_library_callback(void) { return in_library_callback; }

void buse_set_in_library_callback(int value) { in_library_callback = value; }

static _Thread_local void *current_plug;

void *buse_current_plug(void) { return current_plug; }

void buse_set_current_plug(void *plug) { current_plug = plug; }

int buse_syncfs(int fd) {
    return syncfs(fd);
}

int buse_start_writeback(int fd, uint64_t offset, uint64_t length) {
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
}

int buse_name_this_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
