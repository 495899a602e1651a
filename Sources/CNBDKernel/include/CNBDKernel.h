// The Linux nbd driver's control interfaces, made callable from Swift.
//
// ioctl is variadic (Swift cannot call it), the _IO() request numbers of
// <linux/nbd.h> do not import, and NBD_SET_SIZE and friends take an
// unsigned long by value, which the Glibc overlay's CInt ioctl would
// truncate at 2 GiB. Each wrapper returns 0 or -errno.
//
// The netlink functions speak the generic netlink family "nbd"
// (<linux/nbd-netlink.h>) over a raw NETLINK_GENERIC socket; they also
// return 0 or -errno (-ENOENT: the family is absent, i.e. nbd not loaded).
#ifndef BUSE_CNBDKERNEL_H
#define BUSE_CNBDKERNEL_H

#include <stdint.h>

int buse_nbd_set_sock(int device, int socket);
int buse_nbd_set_block_size(int device, unsigned long bytes);
int buse_nbd_set_size(int device, unsigned long bytes);
int buse_nbd_set_flags(int device, unsigned long flags);
int buse_nbd_set_timeout(int device, unsigned long seconds);
// Blocks until the device is disconnected; run it on its own thread.
int buse_nbd_do_it(int device);
int buse_nbd_clear_sock(int device);
int buse_nbd_clear_queue(int device);
int buse_nbd_disconnect(int device);

// Settings for a netlink CONNECT or RECONFIGURE.
struct buse_nbd_config {
    int index;                   // -1: let the kernel pick (CONNECT only)
    uint64_t size;               // bytes
    uint64_t block_size;         // bytes
    uint64_t server_flags;       // NBD_FLAG_* transmission flags
    uint64_t timeout;            // seconds per request; 0: kernel default
    uint64_t dead_conn_timeout;  // seconds to wait for a reattach; 0: none
    const char *identifier;      // backend identifier, or NULL
    const int *sockets;
    int socket_count;
};

// Opens a generic netlink socket and resolves the "nbd" family id.
int buse_nbd_netlink_open(int *socket_out, int *family_out);
// NBD_CMD_CONNECT; on success *index_out is the device index used.
int buse_nbd_netlink_connect(int socket, int family, const struct buse_nbd_config *config, int *index_out);
// NBD_CMD_RECONFIGURE: hands new sockets to a device whose old ones died.
int buse_nbd_netlink_reconfigure(int socket, int family, const struct buse_nbd_config *config);
// NBD_CMD_DISCONNECT.
int buse_nbd_netlink_disconnect(int socket, int family, int index);
// NBD_CMD_STATUS for one index: *connected_out is 1 when it is connected.
int buse_nbd_netlink_status(int socket, int family, int index, int *connected_out);

#endif
