#include <dlfcn.h>
#include <rados/librados.h>

// librados is opened with dlopen the first time a process connects to a Ceph
// cluster, not linked. Linked, it loads libceph-common and a dozen libraries
// more into every buse process, RADOS or not: 12 MiB of an idle file
// export's 41 MiB resident, and as much in a replica or the registry. qemu
// loads its rbd driver the same way. It also lets buse run on a host without
// librados2 installed, for everything but `rados:` devices.
//
// Every librados function buse calls. Adding a call means adding it here.
#define BUSE_RADOS_ENTRY_POINTS(X) \
    X(create2) X(conf_read_file) X(conf_parse_env) X(conf_set) X(connect) X(shutdown) \
    X(ioctx_create) X(ioctx_set_namespace) X(ioctx_destroy) \
    X(aio_create_completion2) X(aio_get_return_value) X(aio_is_complete) X(aio_release) \
    X(aio_read) X(aio_write) X(aio_remove) \
    X(create_write_op) X(release_write_op) X(write_op_assert_exists) \
    X(write_op_truncate) X(write_op_zero) X(aio_write_op_operate) \
    X(stat) X(read) X(write_full) X(remove) X(trunc) \
    X(nobjects_list_open) X(nobjects_list_next) X(nobjects_list_close) \
    X(lock_exclusive) X(break_lock) X(unlock) X(list_lockers) X(setxattr)

// The entry points, with librados' own signatures; `rados_aio_write` is
// `aio_write`. Never null once buse_rados_open has returned NULL.
struct buse_rados {
#define BUSE_RADOS_MEMBER(name) __typeof__(rados_##name) *_Nonnull name;
    BUSE_RADOS_ENTRY_POINTS(BUSE_RADOS_MEMBER)
#undef BUSE_RADOS_MEMBER
};

// Opens `library` (a file name such as librados.so.2, looked up as the dynamic
// linker does) and fills `table`. Returns NULL, or why not (dlerror's text).
// The library stays open for the life of the process.
static inline const char *_Nullable buse_rados_open(const char *_Nonnull library,
                                                    struct buse_rados *_Nonnull table) {
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) return dlerror();
#define BUSE_RADOS_RESOLVE(name)                                   \
    {                                                              \
        void *symbol = dlsym(handle, "rados_" #name);              \
        if (symbol == NULL) return dlerror();                      \
        *(void **)&table->name = symbol;                           \
    }
    BUSE_RADOS_ENTRY_POINTS(BUSE_RADOS_RESOLVE)
#undef BUSE_RADOS_RESOLVE
    return NULL;
}
