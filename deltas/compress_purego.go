//go:build !cgo

package deltas

import "github.com/klauspost/compress/zstd"

// compress compresses src as one zstd frame with klauspost/compress, for
// builds without cgo: the same format, somewhat larger.
func compress(src, prefix []byte, level, windowLog int) ([]byte, error) {
	w := 1 << 20
	if windowLog > 0 {
		w = 1 << windowLog
	}
	for w < len(src)+len(prefix) && w < MaxWindow {
		w <<= 1
	}
	opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(w), zstd.WithEncoderCRC(false)}
	if len(prefix) > 0 {
		opts = append(opts, zstd.WithEncoderDictRaw(0, prefix))
	}
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(src, nil), nil
}
