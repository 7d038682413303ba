//go:build cgo

package deltas

// Generation compresses with the reference zstd library, which
// github.com/DataDog/zstd compiles into the binary. Its Go API sets only the
// level; the advanced API (a window size, and a raw prefix as --patch-from
// uses) is declared here and linked against the same objects. At levels 19
// and above (btultra2) it packs new content several percent smaller than
// klauspost/compress's best level. Devices decompress the standard frames
// with klauspost/compress; only generating a delta needs cgo.

/*
#include <stddef.h>
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
ZSTD_CCtx* ZSTD_createCCtx(void);
size_t ZSTD_freeCCtx(ZSTD_CCtx* cctx);
size_t ZSTD_CCtx_setParameter(ZSTD_CCtx* cctx, int param, int value);
size_t ZSTD_CCtx_refPrefix(ZSTD_CCtx* cctx, const void* prefix, size_t prefixSize);
size_t ZSTD_compress2(ZSTD_CCtx* cctx, void* dst, size_t dstCapacity, const void* src, size_t srcSize);
size_t ZSTD_compressBound(size_t srcSize);
unsigned ZSTD_isError(size_t code);
const char* ZSTD_getErrorName(size_t code);

static size_t arbor_compress(void* dst, size_t dstCap, const void* src, size_t srcSize,
		const void* prefix, size_t prefixSize, int level, int windowLog) {
	ZSTD_CCtx* c = ZSTD_createCCtx();
	if (c == NULL) return (size_t)-64; // memory_allocation
	size_t r = ZSTD_CCtx_setParameter(c, 100, level); // ZSTD_c_compressionLevel
	if (!ZSTD_isError(r) && windowLog > 0) r = ZSTD_CCtx_setParameter(c, 101, windowLog); // ZSTD_c_windowLog
	if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, 201, 0); // ZSTD_c_checksumFlag
	if (!ZSTD_isError(r) && prefixSize > 0) r = ZSTD_CCtx_refPrefix(c, prefix, prefixSize);
	if (!ZSTD_isError(r)) r = ZSTD_compress2(c, dst, dstCap, src, srcSize);
	ZSTD_freeCCtx(c);
	return r;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	_ "github.com/DataDog/zstd" // links the reference library
)

// compress compresses src as one zstd frame at level, with a window of
// 1<<windowLog bytes (0: the level's default), and prefix (may be nil) as a
// raw dictionary that the frame's matches may reach into.
func compress(src, prefix []byte, level, windowLog int) ([]byte, error) {
	dst := make([]byte, int(C.ZSTD_compressBound(C.size_t(len(src)))))
	var sp, pp, dp unsafe.Pointer
	if len(src) > 0 {
		sp = unsafe.Pointer(&src[0])
	}
	if len(prefix) > 0 {
		pp = unsafe.Pointer(&prefix[0])
	}
	dp = unsafe.Pointer(&dst[0])
	n := C.arbor_compress(dp, C.size_t(len(dst)), sp, C.size_t(len(src)), pp, C.size_t(len(prefix)), C.int(level), C.int(windowLog))
	if C.ZSTD_isError(n) != 0 {
		return nil, fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:n], nil
}
