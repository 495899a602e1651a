// Typed wrappers for system calls Swift cannot call directly or whose
// constants do not import (variadic ioctl, fallocate mode bits, pwritev2
// flags), and the C thread-locals of the Threading module. Each function
// says why it exists.
#ifndef BUSE_C_SYSTEM_SHIMS_H
#define BUSE_C_SYSTEM_SHIMS_H

#include <stdint.h>
#include <sys/types.h>
// llistxattr, lgetxattr, lsetxattr: Glibc's Swift module leaves this header out
// (the layer differ reads extended attributes without following links).
#include <sys/xattr.h>

// The size in bytes of a block device (BLKGETSIZE64); ioctl is variadic.
// Returns 0 or -1 with errno set.
int buse_block_device_size(int fd, uint64_t *size);

// Deallocates a range, keeping the file size (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE):
// the range reads as zeros afterwards. Returns 0 or -1 with errno set.
int buse_punch_hole(int fd, uint64_t offset, uint64_t length);

// Zeroes a range, leaving it allocated (FALLOC_FL_ZERO_RANGE | KEEP_SIZE).
int buse_zero_range(int fd, uint64_t offset, uint64_t length);

// Allocates a range without changing its content (mode 0, KEEP_SIZE).
int buse_allocate(int fd, uint64_t offset, uint64_t length);

// Names the calling thread (at most 15 bytes) for ps -L, top -H and perf:
// pthread_setname_np is a GNU extension Glibc's Swift module leaves out.
// Returns 0 or an errno value.
int buse_name_this_thread(const char *name);

// Writes with RWF_DSYNC: the data of just this write is on stable storage
// when it returns (forced unit access). Returns bytes written or -1.
ssize_t buse_pwrite_dsync(int fd, const void *buffer, size_t length, uint64_t offset);

// lseek(SEEK_DATA) and lseek(SEEK_HOLE): the constants need _GNU_SOURCE,
// which Swift's Glibc module does not define.
off_t buse_seek_data(int fd, uint64_t offset);
off_t buse_seek_hole(int fd, uint64_t offset);

// syncfs(2): every change of the filesystem holding fd made durable
// (Swift's Glibc module does not declare it).
int buse_syncfs(int fd);

// sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback of a range
// without waiting for it, so a later fsync has less left to do. Advisory:
// durability still comes from fsync. (Needs _GNU_SOURCE; not in Glibc's module.)
int buse_start_writeback(int fd, uint64_t offset, uint64_t length);

// A per-thread flag: whether a task resumed from this thread may run on it
// right away (see Threading's CompletionExecutor). A C thread-local,
// because Swift has none that is cheap to read on every resumption.
int buse_resumes_inline(void);
void buse_set_resumes_inline(int value);

// A per-thread flag: whether this thread is inside a C library's callback
// (librados'), where the library must not be shut down: that would join
// the very thread it runs on.
int buse_in_library_callback(void);
void buse_set_in_library_callback(int value);

// This thread's submission plug (Threading's SubmissionPlug), or NULL.
void *buse_current_plug(void);
void buse_set_current_plug(void *plug);

#endif
