//go:build !cgo

package packs

import "github.com/klauspost/compress/zstd"

// compressBlock compresses one block with klauspost/compress, for builds
// without cgo (the device binary): the output is the same format, a little
// larger than the reference library's at high levels.
func compressBlock(src []byte, level int) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(windowFor(len(src))), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(src, nil), nil
}
