// Package packs writes and reads packs: the files in which a site stores
// units (every metadata object and every chunk) for transfer.
//
// A pack is a concatenation of blocks. A block is one zstd frame holding
// consecutive units of one publish, compressed together, up to a target
// size (256 KiB uncompressed by default; a unit larger than that is a block
// of its own). Blocks never mix metadata units (dirtree, dirmeta, file) with
// chunks, and the metadata blocks come first, so the metadata a release
// adds can be fetched with one range request. A pack is immutable and named
// by the BLAKE3 hash of its bytes.
//
// Beside each pack lies its index: a table of the pack's blocks (offset,
// compressed and uncompressed size, BLAKE3 of the compressed bytes) and of
// its units sorted by ID (ID, kind, block, offset and size inside the
// uncompressed block). The index file is one zstd frame of this encoding
// (all integers big-endian):
//
//	magic     "ARBORIDX"  8 bytes
//	version   1           1 byte
//	seq       uint64      publish sequence number: higher is newer
//	pack      [32]byte    the pack's ID
//	packSize  uint64
//	metaBlocks uint32     blocks [0, metaBlocks) hold metadata units
//	nBlocks   uint32
//	nUnits    uint32
//	nBlocks × { offset uint64, csize uint32, usize uint32, hash [32]byte }
//	nUnits  × { id [32]byte, kind uint8, block uint32, offset uint32, size uint32 }
//
// Blocks are contiguous and in order (each offset is the previous offset
// plus its size, the first is 0, the last ends at packSize); units are
// strictly sorted by ID and lie inside their block; DecodeIndex refuses
// anything else. A reader verifies a block's hash before decompressing it,
// refuses a frame that expands past its declared size, and verifies every
// unit against its ID after.
package packs
