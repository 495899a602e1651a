#include "CNBDKernel.h"

#include <errno.h>
#include <linux/nbd.h>
#include <sys/ioctl.h>

static int result(int value) { return value < 0 ? -errno : 0; }

int buse_nbd_set_sock(int device, int socket) { return result(ioctl(device, NBD_SET_SOCK, (unsigned long)socket)); }
int buse_nbd_set_block_size(int device, unsigned long bytes) { return result(ioctl(device, NBD_SET_BLKSIZE, bytes)); }
int buse_nbd_set_size(int device, unsigned long bytes) { return result(ioctl(device, NBD_SET_SIZE, bytes)); }
int buse_nbd_set_flags(int device, unsigned long flags) { return result(ioctl(device, NBD_SET_FLAGS, flags)); }
int buse_nbd_set_timeout(int device, unsigned long seconds) { return result(ioctl(device, NBD_SET_TIMEOUT, seconds)); }
int buse_nbd_do_it(int device) { return result(ioctl(device, NBD_DO_IT)); }
int buse_nbd_clear_sock(int device) { return result(ioctl(device, NBD_CLEAR_SOCK)); }
int buse_nbd_clear_queue(int device) { return result(ioctl(device, NBD_CLEAR_QUE)); }
int buse_nbd_disconnect(int device) { return result(ioctl(device, NBD_DISCONNECT)); }
