// Package objects defines arbor's content-addressed objects: their kinds,
// their IDs, their one canonical encoding, the chunking of file content, and
// the verification of bytes read from a store. This comment is the format
// specification; the known-answer vectors in testdata/objects (vectors.json,
// chunker.json) pin it, and a change that alters them is a format change.
//
// # Objects and IDs
//
// An object is a byte string. Its ID is the BLAKE3-256 hash of exactly those
// bytes (32 bytes), so an ID names one byte string and nothing else. An ID is
// written as 64 lowercase hexadecimal digits; [ParseID] refuses any other
// form (uppercase, other lengths, prefixes, spaces). [ID.Short] (12 digits)
// is for logs and messages only, never for lookups. The all-zero ID means
// "no object" and is never a valid reference inside an object.
//
// # Kinds
//
// There are five kinds. The kind's number is part of the encoding; stores
// also keep the kind beside the ID, and an object is read as the kind it
// was asked for.
//
//	1 chunk    raw bytes of a piece of one file's content; never decoded
//	2 file     a regular file's or a symlink's metadata and chunk list
//	3 dirmeta  a directory's mode, owner and xattrs
//	4 dirtree  a directory's entries, sorted by name
//	5 commit   a root dirtree and dirmeta, history and metadata
//
// A tree is a Merkle tree: a commit names a dirtree and a dirmeta, a dirtree
// names files, dirtrees and dirmetas, a file names chunks. There are no
// timestamps below the commit: every checked-out file gets mtime 0. Hard
// links become separate entries with the same file ID.
//
// # Encoding
//
// A chunk is its raw bytes. Every other object is one CBOR data item
// (RFC 8949) in core deterministic encoding (§4.2.1):
//
//   - integers and lengths use the shortest head; lengths are definite
//     (no indefinite-length strings, arrays or maps);
//   - map keys are sorted bytewise by their encoded form (so, for text
//     keys, shorter keys first) and never repeat;
//   - no tags, no floating-point numbers, no simple values other than
//     false, true and null, and only where listed below;
//   - nothing follows the item.
//
// The item is an array whose first two elements are the kind number and the
// format version, [FormatVersion] = 1; the kind's fields follow in the order
// below, all present, and nothing else. In the layouts, uint is CBOR major
// type 0, int major type 0 or 1, bstr a byte string, tstr a text string
// (which must be valid UTF-8), id a bstr of exactly 32 bytes that is not all
// zeros, and [* x] an array of zero or more x. An empty list is the empty
// array 0x80 and an empty string 0x60, never null.
//
//	file     = [2, 1, mode: uint, uid: uint, gid: uint, xattrs: [* xattr], chunks: [* chunkref], target: tstr]
//	dirmeta  = [3, 1, mode: uint, uid: uint, gid: uint, xattrs: [* xattr]]
//	dirtree  = [4, 1, entries: [* entry]]
//	commit   = [5, 1, tree: id, meta: id, parent: id / null, timestamp: int,
//	            subject: tstr, body: tstr, metadata: {* tstr => value}]
//
//	xattr    = [name: tstr, value: bstr]
//	chunkref = [chunk: id, size: uint]
//	entry    = [name: tstr, file: id]             ; a regular file or symlink
//	         / [name: tstr, tree: id, meta: id]   ; a subdirectory
//	value    = tstr / int / bool / bstr / [* tstr]
//
// Modes are Unix st_mode values: the file type bits ([ModeTypeMask]) plus
// the permission, setuid, setgid and sticky bits ([ModePermMask]), and no
// other bit. mode, uid and gid are at most 2^32-1.
//
// file: the type is regular ([ModeRegular]) or symlink ([ModeSymlink]);
// devices, FIFOs and sockets are not objects. A regular file has target ""
// and lists its content's chunks in order: the content is their
// concatenation, an empty file has no chunks, and each chunk's size is
// 1..[MaxChunkSize]. A symlink has permission bits exactly 0777, no chunks,
// and a target of 1..[MaxTargetLen] bytes of valid UTF-8 without NUL.
//
// dirmeta: the type is directory ([ModeDir]).
//
// xattrs (file and dirmeta): at most [MaxXattrs]; names are 1..[MaxXattrNameLen]
// bytes of valid UTF-8 without NUL, in strictly increasing bytewise order
// (sorted, no duplicates); values are at most [MaxXattrValueLen] bytes.
//
// dirtree: entries are in strictly increasing bytewise order of name (so no
// two entries share a name); a name is 1..[MaxNameLen] bytes of valid UTF-8,
// not "." or "..", without "/" or NUL (see [ValidName]). A two-element entry
// names a file object, a three-element entry a dirtree and its dirmeta.
//
// commit: tree is the root dirtree, meta the root directory's dirmeta.
// parent is null for a first commit. timestamp is in seconds since the Unix
// epoch, UTC. subject and body are free text. Metadata keys are non-empty,
// at most 4096 of them; an int value is in the int64 range. Four keys are
// defined: [MetaRefBinding] ("arbor.ref-binding", required, a non-empty
// list of the refs the commit may be served as), [MetaRelease]
// ("arbor.release", required, an int that increases along a ref),
// [MetaVersion] ("arbor.version", optional, a tstr for display) and
// [MetaHWCompat] ("arbor.hw-compat", optional, a list of the hardware IDs
// it may be installed on). Other keys are free; by convention they are
// namespaced by a reverse domain name, as "com.example.build-id".
//
// # Size caps
//
// Every object has a cap on its length in bytes ([Kind.MaxSize]): a chunk
// 1 MiB, a file 16 MiB, a dirtree 16 MiB, a dirmeta 1 MiB, a commit 1 MiB.
// Encoders refuse to write more and decoders to read more, so that no input
// can make a reader hold unbounded memory.
//
// # Canonical decoding
//
// Each kind has exactly one encoding per value, so one value has one ID.
// Encode refuses values that break the rules above; the decoders
// ([DecodeFile], [DecodeDirMeta], [DecodeDirTree], [DecodeCommit]) accept a
// byte string only if it is what Encode writes for the value it decodes to:
// they decode, validate, re-encode and compare. Anything else (a longer
// integer head, unsorted keys, an extra field, a tag, null for an empty
// list, trailing bytes) fails with an error matching [ErrInvalid]. Decoded
// values use nil for empty lists and empty xattr values.
//
// # Verification
//
// Bytes from a store, a cache or the network are untrusted until hashed.
// [Verify] hashes while reading and fails with a [*CorruptError] (matching
// [ErrCorrupt]) at EOF if the bytes do not hash to the expected ID, or as
// soon as one byte more than the limit has arrived (the kind's cap, or for a
// chunk read through [OpenContent] the size in the file's chunk list; a
// chunk shorter than that size fails too). [ReadRaw] and the Read*
// functions verify before they decode, so a decoder only ever sees bytes
// that match their ID. Missing objects fail with an error matching
// [ErrNotFound].
//
// # Chunking
//
// A regular file's content is cut into chunks by normalized FastCDC
// ([Chunker]), each file on its own. With sizes min, avg (a power of two,
// 2^b) and max (defaults 16 KiB, 64 KiB, 256 KiB), the next chunk of the
// remaining content r is found as follows. If len(r) <= min, r is the last
// chunk. Otherwise h starts at 0 and, for each i from min to
// min(len(r), max) - 1,
//
//	h = h<<1 + gear[r[i]]   (mod 2^64)
//
// and the chunk ends after r[i] (length i+1) at the first i where h&mask is
// 0: mask is the top b+2 bits of a 64-bit word while i < avg, and the top
// b-2 bits from avg on. If there is no such i, the chunk has length
// min(len(r), max). gear is 256 words from splitmix64 seeded with
// 0x61726230725f6364. So every chunk but the last has min+1..max bytes, the
// same content always gives the same chunks, and an edit changes only the
// chunks around it. The cut points are part of the format.
package objects
