// zlib for Swift: deflateInit/inflateInit are macros over the *_ functions.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>

static inline int CZlib_deflateInit(z_streamp strm, int level) {
    return deflateInit(strm, level);
}
static inline int CZlib_inflateInit(z_streamp strm) {
    return inflateInit(strm);
}
#endif
