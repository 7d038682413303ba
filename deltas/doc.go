// Package deltas generates and applies static deltas: everything a device
// holding commit A needs to build commit B, in a superblock and a few
// parts, so that it downloads them in a handful of requests instead of
// walking B's tree and fetching what it lacks unit by unit.
//
// # What a delta holds
//
// The superblock (see [Superblock.Encode] for its bytes) names the two
// commits, carries B's commit object, the zstd window the parts need, the
// chunker that cuts produced contents, counts of what the delta produces,
// and each part's BLAKE3 hash, size and uncompressed size. It is small and
// is fetched first; a ref descriptor lists it and the parts (hash and size)
// in signed data.
//
// A part (see part.go) is a header and zstd frames: a table, and three
// streams read side by side: control entries of bsdiff patches, their
// difference bytes (run-length encoded: uvarint zeros, uvarint n, n bytes),
// and data (contents sent whole, together, compressed solid with a long
// window, and the bytes bsdiff patches copy in); then the zstd patches'
// frames. The table of the first part starts with the tree section; every
// table then lists operations.
//
// # The tree section
//
// Neither side names the objects it talks about: both walk B's tree beside
// A's in the same order (walk.go), and the generator writes one flag per
// candidate (an object of B that is not the object at the same path in A):
//
//	0 known   the device holds it (it is in A's closure); a known directory is not descended into
//	1 raw     uvarint n, then the object's n bytes
//	2 patch   uvarint n, then a zstd frame of the object with A's object at the same path as prefix
//	3 recipe  a file object the device rebuilds from the content an operation produces
//
// The device knows each candidate's ID from its parent (B's commit for the
// root), so every object it decodes is checked against an ID it already
// trusts. Directories are stored once their children are, in the reverse
// of the walk.
//
// # Operations
//
// Each operation produces the content of the next target: a file the tree
// section sent whole (regular, not empty) or as a recipe, in walk order.
//
//	1 literal  meta, uvarint len                      len bytes of the data stream
//	2 bsdiff   source, meta, uvarint len, uvarint n   n control entries (uvarint add, uvarint copy,
//	                                                  zigzag uvarint of the old offset's distance from
//	                                                  the end of the previous add): add difference
//	                                                  bytes plus the old bytes there, then copy bytes of
//	                                                  the data stream
//	3 zstd     source, meta, uvarint len, uvarint c   a c-byte frame; the source's content is its prefix
//	4 copyold  source, meta                           the source's content, chunk for chunk
//	5 copynew  uvarint i, meta                        target i's content (an earlier one)
//
// A source is 0 (A's file at the target's path) or 1 and a path in A's
// tree. The metadata is 0 (the source's mode, owner and xattrs), 1 and an
// explicit mode, uid, gid and xattrs, or 2 (the file object was sent
// whole). A rebuilt file object must hash to the ID its directory names; a
// file object sent whole has its content cut along its chunk list and each
// chunk checked.
//
// # Bounds
//
// The applier verifies a part's hash before it decompresses anything in it,
// checks every count, length and offset against what remains (a bsdiff
// entry may only read inside the source), refuses frames with a window over
// the superblock's, and refuses a superblock whose window is over its own
// limit before producing anything. It reads old contents at offsets (the
// device repository's files, or chunk by chunk) and holds at most about a
// window of content: a zstd patch covers at most a window of old and new
// content together, and larger files are patched with bsdiff, whose
// matches the generator searches window by window.
//
// # Storage
//
// [Dir] keeps generated deltas in an archive repository under
// deltas/<from>-<to>/: the superblock and <hash>.part files.
package deltas
