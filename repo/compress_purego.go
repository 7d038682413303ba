//go:build !cgo

package repo

import "github.com/klauspost/compress/zstd"

// compressChunk compresses one chunk of an archive repository with
// klauspost/compress at its nearest equivalent of chunkLevel, for builds
// without cgo: the same format, a few percent larger.
func compressChunk(dst, src []byte) ([]byte, error) {
	return zenc.EncodeAll(src, dst), nil
}

var zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(chunkLevel)), zstd.WithEncoderConcurrency(1),
	zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
