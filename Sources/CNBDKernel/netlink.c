// A minimal generic netlink client for the nbd family: enough to build
// CONNECT, RECONFIGURE, DISCONNECT and STATUS messages and read the replies.
// Written against <linux/netlink.h>, <linux/genetlink.h> and
// <linux/nbd-netlink.h>; no libnl, so the binary needs nothing extra.
#include "CNBDKernel.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 8192

struct message {
    char bytes[BUFFER_SIZE];
    size_t length;
};

static struct nlattr *put(struct message *m, uint16_t type, const void *data, size_t length) {
    size_t total = NLA_HDRLEN + length;
    if (m->length + NLA_ALIGN(total) > BUFFER_SIZE) return NULL;
    struct nlattr *attribute = (struct nlattr *)(m->bytes + m->length);
    attribute->nla_type = type;
    attribute->nla_len = (uint16_t)total;
    if (length) memcpy((char *)attribute + NLA_HDRLEN, data, length);
    memset((char *)attribute + total, 0, NLA_ALIGN(total) - total);
    m->length += NLA_ALIGN(total);
    return attribute;
}

static int put_u32(struct message *m, uint16_t type, uint32_t value) { return put(m, type, &value, 4) ? 0 : -EMSGSIZE; }
static int put_u64(struct message *m, uint16_t type, uint64_t value) { return put(m, type, &value, 8) ? 0 : -EMSGSIZE; }

static void begin(struct message *m, uint16_t family, uint8_t command) {
    memset(m, 0, sizeof *m);
    struct nlmsghdr *header = (struct nlmsghdr *)m->bytes;
    header->nlmsg_type = family;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    header->nlmsg_seq = 1;
    struct genlmsghdr *generic = (struct genlmsghdr *)(m->bytes + NLMSG_HDRLEN);
    generic->cmd = command;
    generic->version = (family == GENL_ID_CTRL) ? 1 : NBD_GENL_VERSION;
    m->length = NLMSG_HDRLEN + GENL_HDRLEN;
}

// Sends the message and reads replies until the kernel's ack or error.
// `on_reply` sees each genl payload (attributes) before the ack.
typedef void (*reply_handler)(const struct nlattr *attributes, size_t length, void *context);

static int exchange(int socket, struct message *m, reply_handler on_reply, void *context) {
    ((struct nlmsghdr *)m->bytes)->nlmsg_len = (uint32_t)m->length;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(socket, m->bytes, m->length, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    char reply[BUFFER_SIZE];
    for (;;) {
        ssize_t received = recv(socket, reply, sizeof reply, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (struct nlmsghdr *header = (struct nlmsghdr *)reply; NLMSG_OK(header, (size_t)received);
             header = NLMSG_NEXT(header, received)) {
            if (header->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *error = NLMSG_DATA(header);
                return error->error;  // 0 is the ack; else -errno
            }
            if (header->nlmsg_type == NLMSG_DONE) return 0;
            if (on_reply && header->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN) {
                const char *payload = (const char *)NLMSG_DATA(header) + GENL_HDRLEN;
                on_reply((const struct nlattr *)payload, header->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, context);
            }
        }
    }
}

#define FOR_EACH_ATTRIBUTE(attribute, start, length)                                      \
    for (const struct nlattr *attribute = (start); (length) >= NLA_HDRLEN &&               \
         attribute->nla_len >= NLA_HDRLEN && attribute->nla_len <= (length);               \
         (length) -= NLA_ALIGN(attribute->nla_len),                                        \
         attribute = (const struct nlattr *)((const char *)attribute + NLA_ALIGN(attribute->nla_len)))

static void read_family(const struct nlattr *attributes, size_t length, void *context) {
    FOR_EACH_ATTRIBUTE(attribute, attributes, length) {
        if ((attribute->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
            *(int *)context = *(const uint16_t *)((const char *)attribute + NLA_HDRLEN);
    }
}

int buse_nbd_netlink_open(int *socket_out, int *family_out) {
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (sock < 0) return -errno;
    struct message m;
    begin(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
    if (!put(&m, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME, sizeof NBD_GENL_FAMILY_NAME)) {
        close(sock);
        return -EMSGSIZE;
    }
    int family = -1;
    int status = exchange(sock, &m, read_family, &family);
    if (status == 0 && family < 0) status = -ENOENT;
    if (status < 0) {
        close(sock);
        return status;
    }
    *socket_out = sock;
    *family_out = family;
    return 0;
}

static int put_sockets(struct message *m, const int *sockets, int count) {
    struct nlattr *list = put(m, NBD_ATTR_SOCKETS | NLA_F_NESTED, NULL, 0);
    if (!list) return -EMSGSIZE;
    size_t list_start = (char *)list - m->bytes;
    for (int i = 0; i < count; i++) {
        struct nlattr *item = put(m, NBD_SOCK_ITEM | NLA_F_NESTED, NULL, 0);
        if (!item) return -EMSGSIZE;
        size_t item_start = (char *)item - m->bytes;
        if (put_u32(m, NBD_SOCK_FD, (uint32_t)sockets[i]) < 0) return -EMSGSIZE;
        ((struct nlattr *)(m->bytes + item_start))->nla_len = (uint16_t)(m->length - item_start);
    }
    ((struct nlattr *)(m->bytes + list_start))->nla_len = (uint16_t)(m->length - list_start);
    return 0;
}

static int put_config(struct message *m, const struct buse_nbd_config *c, int with_geometry) {
    if (c->index >= 0 && put_u32(m, NBD_ATTR_INDEX, (uint32_t)c->index) < 0) return -EMSGSIZE;
    if (with_geometry) {
        if (put_u64(m, NBD_ATTR_SIZE_BYTES, c->size) < 0) return -EMSGSIZE;
        if (put_u64(m, NBD_ATTR_BLOCK_SIZE_BYTES, c->block_size) < 0) return -EMSGSIZE;
        if (put_u64(m, NBD_ATTR_SERVER_FLAGS, c->server_flags) < 0) return -EMSGSIZE;
    }
    if (c->timeout && put_u64(m, NBD_ATTR_TIMEOUT, c->timeout) < 0) return -EMSGSIZE;
    if (c->dead_conn_timeout && put_u64(m, NBD_ATTR_DEAD_CONN_TIMEOUT, c->dead_conn_timeout) < 0) return -EMSGSIZE;
    if (c->identifier && !put(m, NBD_ATTR_BACKEND_IDENTIFIER, c->identifier, strlen(c->identifier) + 1)) return -EMSGSIZE;
    return put_sockets(m, c->sockets, c->socket_count);
}

static void read_index(const struct nlattr *attributes, size_t length, void *context) {
    FOR_EACH_ATTRIBUTE(attribute, attributes, length) {
        if ((attribute->nla_type & NLA_TYPE_MASK) == NBD_ATTR_INDEX)
            *(int *)context = (int)*(const uint32_t *)((const char *)attribute + NLA_HDRLEN);
    }
}

int buse_nbd_netlink_connect(int socket, int family, const struct buse_nbd_config *config, int *index_out) {
    struct message m;
    begin(&m, (uint16_t)family, NBD_CMD_CONNECT);
    int status = put_config(&m, config, 1);
    if (status < 0) return status;
    int index = config->index;
    status = exchange(socket, &m, read_index, &index);
    if (status == 0) *index_out = index;
    return status;
}

int buse_nbd_netlink_reconfigure(int socket, int family, const struct buse_nbd_config *config) {
    struct message m;
    begin(&m, (uint16_t)family, NBD_CMD_RECONFIGURE);
    int status = put_config(&m, config, 0);
    if (status < 0) return status;
    return exchange(socket, &m, NULL, NULL);
}

int buse_nbd_netlink_disconnect(int socket, int family, int index) {
    struct message m;
    begin(&m, (uint16_t)family, NBD_CMD_DISCONNECT);
    if (put_u32(&m, NBD_ATTR_INDEX, (uint32_t)index) < 0) return -EMSGSIZE;
    return exchange(socket, &m, NULL, NULL);
}

struct status_query {
    int index;
    int connected;
};

static void read_status(const struct nlattr *attributes, size_t length, void *context) {
    struct status_query *query = context;
    FOR_EACH_ATTRIBUTE(list, attributes, length) {
        if ((list->nla_type & NLA_TYPE_MASK) != NBD_ATTR_DEVICE_LIST) continue;
        size_t items_length = list->nla_len - NLA_HDRLEN;
        FOR_EACH_ATTRIBUTE(item, (const struct nlattr *)((const char *)list + NLA_HDRLEN), items_length) {
            size_t fields_length = item->nla_len - NLA_HDRLEN;
            int index = -1, connected = 0;
            FOR_EACH_ATTRIBUTE(field, (const struct nlattr *)((const char *)item + NLA_HDRLEN), fields_length) {
                const char *value = (const char *)field + NLA_HDRLEN;
                if ((field->nla_type & NLA_TYPE_MASK) == NBD_DEVICE_INDEX) index = (int)*(const uint32_t *)value;
                if ((field->nla_type & NLA_TYPE_MASK) == NBD_DEVICE_CONNECTED) connected = *(const uint8_t *)value;
            }
            if (index == query->index) query->connected = connected;
        }
    }
}

int buse_nbd_netlink_status(int socket, int family, int index, int *connected_out) {
    struct message m;
    begin(&m, (uint16_t)family, NBD_CMD_STATUS);
    if (put_u32(&m, NBD_ATTR_INDEX, (uint32_t)index) < 0) return -EMSGSIZE;
    struct status_query query = {.index = index, .connected = -1};
    int status = exchange(socket, &m, read_status, &query);
    if (status < 0) return status;
    if (query.connected < 0) return -ENODEV;
    *connected_out = query.connected;
    return 0;
}
