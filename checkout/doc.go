// Package checkout writes a tree from an object store into a directory.
//
// # What a checkout recreates
//
// Tree and Commit recreate a tree exactly: file content, modes (setuid,
// setgid and sticky included), owners (unless Options.NoOwners), extended
// attributes, symlink targets, empty directories, and an mtime (and atime)
// of 0 on every file, symlink and directory, as DESIGN.md §2 asks: hard
// links share one inode across deployments, so no timestamp can be kept.
//
// Metadata goes on in the order the kernel needs: content first (a write
// clears setuid), then the owner (chown clears setuid, setgid and
// security.capability), then extended attributes, then the mode, then the
// times. A directory gets its metadata only after everything under it is
// written, so a read-only directory (0555) still receives its children and
// its mtime stays 0.
//
// # Hard links
//
// When the store implements Linker (a bare repository does), each file and
// symlink is a hard link to the repository's copy, which already carries the
// object's mode, owner and xattrs; the file object is not even read. Two
// checkouts of similar trees share every unchanged file. Nothing is verified
// on this path: the bare repository's files were verified when they were
// stored, and fsck checks them. Modifying a hard-linked file in place
// modifies the repository; deployments mount /usr read-only for that reason.
//
// A link can fail for two ordinary reasons, and the checkout falls back to
// copying: the repository is on another filesystem (EXDEV: every file from
// then on is copied, with one warning), or the repository's inode already has
// the most links the filesystem allows (EMLINK: that file is copied, with one
// warning for the whole checkout). Options.Copy asks for copies outright.
// Copies are read from the store's objects, each chunk verified against its
// ID; a corrupt chunk fails the checkout with an error that matches
// objects.ErrCorrupt and names the file.
//
// # Safety
//
// A checkout never creates, modifies or follows anything outside DIR,
// whatever the tree holds, even if the store is hostile. Every entry is
// created relative to a descriptor of a directory the checkout itself made
// (mkdirat, then openat with O_DIRECTORY|O_NOFOLLOW), files with O_EXCL and
// O_NOFOLLOW, and names are checked again (objects.ValidName) although the
// dirtree decoder already refuses "", ".", "..", "/", NUL, duplicates and
// unsorted entries. Symlinks are created as they are, pointing anywhere, but
// are never followed: a symlink "a" and a file "b" are separate entries, and
// the dirtree cannot hold "a/b".
//
// DIR itself is resolved as the caller gives it: if DIR is a symlink to an
// empty directory, the tree is written into that directory (the caller
// chose it). DIR must not exist or be empty (ErrNotEmpty otherwise). An
// attacker who can write inside DIR while the checkout runs is out of scope.
//
// # Speed
//
// Directories are checked out in parallel by a small bounded set of workers
// (Options.Workers, default DefaultWorkers). A worker that meets a
// subdirectory hands it to an idle worker if there is one and otherwise goes
// down into it itself, so no worker ever waits for another; a directory's
// metadata is applied by whichever worker finishes its last subdirectory.
// Each directory is opened once, when it is made, and everything in it is
// created relative to that descriptor; each distinct dirmeta is read and
// decoded once.
package checkout
