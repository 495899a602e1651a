#include <zlib.h>

// deflateInit2 is a macro that passes the library's version and the
// stream's size: Swift cannot call a function-like macro.
static inline int czlib_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
