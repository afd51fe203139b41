// libnghttp2 (HTTP/2 framing, HPACK, flow control) for Swift: the header, plus wrappers for what
// Swift cannot reach directly (the frame union's members, macros), prefixed with the module name.
#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

/// The stream a received frame belongs to (0 for connection-level frames).
static inline int32_t CNghttp2_frame_stream_id(const nghttp2_frame *frame) { return frame->hd.stream_id; }
static inline uint8_t CNghttp2_frame_type(const nghttp2_frame *frame) { return frame->hd.type; }
static inline uint8_t CNghttp2_frame_flags(const nghttp2_frame *frame) { return frame->hd.flags; }

/// One header field pointing at caller-owned bytes (never copied by the caller; nghttp2 copies
/// them when the frame is submitted).
static inline nghttp2_nv CNghttp2_nv(const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen) {
    nghttp2_nv nv = { (uint8_t *)name, (uint8_t *)value, namelen, valuelen, NGHTTP2_NV_FLAG_NONE };
    return nv;
}

/// A header field whose bytes outlive the session (nghttp2 keeps the pointers, copies nothing).
static inline nghttp2_nv CNghttp2_nv_static(const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen) {
    nghttp2_nv nv = { (uint8_t *)name, (uint8_t *)value, namelen, valuelen,
                      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE };
    return nv;
}
#endif
