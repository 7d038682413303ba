// Package trust signs arbor's static site with TUF (The Update Framework,
// through github.com/theupdateframework/go-tuf/v2) and verifies it on
// devices. Everything else on the site is content-addressed from the signed
// targets (ref descriptor → commit → trees → files → chunks), so this
// package is the root of trust of an update.
//
// The package does no network or site I/O. The publisher side returns the
// files to write (File: name and bytes) and reads the current site through
// a ReadFunc; the client side fetches through a FetchFunc and keeps its own
// state in a directory.
//
// # Roles
//
//   - root: lists the keys of every role and how many must sign (the
//     threshold). Its keys should live offline; it is re-signed only to
//     rotate keys or renew its expiry (RotateKey, RenewRoot). Threshold
//     signing is supported (InitOptions.RootKeys, RootThreshold).
//   - targets: signs the targets, arbor's ref descriptors, each with its
//     exact length, SHA-256 hash and optional custom JSON.
//   - snapshot: signs the version, length and hash of the current targets
//     metadata, so that a client sees one consistent set.
//   - timestamp: signs the version, length and hash of the current snapshot.
//     It is the only entry point a client polls, and it expires quickly, so
//     a mirror cannot freeze a device on old metadata for longer than that.
//
// Targets, snapshot and timestamp keys are online: the publisher needs them
// to publish. Each role has one ed25519 key by default. Delegated targets
// roles are not supported; clients refuse them.
//
// # Expiries
//
// Defaults: root 365 days, targets 90 days, snapshot 7 days, timestamp 1
// day (Options). Expiry times are whole seconds in UTC. A periodic job must
// run RefreshExpiring (or at least RefreshTimestamp) well within the
// timestamp's lifetime, or devices stop updating with ErrExpired; the root
// must be renewed with RenewRoot, which needs root keys, before it expires.
//
// # Site layout
//
// Under the site root, in directory "tuf/":
//
//	1.root.json, 2.root.json, ...   every root version, immutable
//	root.json                       a copy of the newest root (for operators)
//	N.targets.json                  targets version N, immutable
//	N.snapshot.json                 snapshot version N, immutable
//	timestamp.json                  the only file rewritten besides root.json
//
// Roots use consistent snapshots, so every file but timestamp.json and
// root.json is named by its version and may be cached forever. A target
// file is stored at TargetFilePath(name, sha256hex): the hash goes in front
// of the last path element ("refs/os/stable" → "refs/os/<sha256>.stable"),
// relative to the site root. Files must be written in the order the
// publisher returns them: root versions first, timestamp last.
//
// Every metadata file a client fetches has a length cap known before the
// fetch starts: snapshot and targets the exact length signed by the
// timestamp and snapshot (which must carry lengths and SHA-256 hashes);
// roots MaxRootLength and the timestamp MaxTimestampLength, the only two
// files whose length no signed data gives.
//
// # Key files
//
// The publisher's private keys live in a keys directory (mode 0700), one
// JSON file per key (mode 0600), named "<role>-<key ID prefix>.json":
//
//	{"role": "targets", "keyid": "<64 hex>", "keytype": "ed25519",
//	 "scheme": "ed25519", "public": "<64 hex>", "private": "<64 hex seed>"}
//
// The key ID is TUF's: the SHA-256 of the canonical JSON of the public key.
// The publisher uses a key for a role only if its file names that role and
// the current root lists its key ID for it; files of revoked keys are thus
// ignored. Init never overwrites keys, and the publisher refuses key files
// that others may read.
//
// # Client state and the time floor
//
// A client's state directory holds state.json (the verified root,
// timestamp, snapshot and targets, exactly as fetched, and the time floor)
// and a lock file. InstallRoot creates it from a root the operator trusts.
// Refresh replaces state.json atomically and only when the whole workflow
// succeeded: a crash or an attack leaves the previous state, never a mix.
//
// Expiry is checked against a reference time: the later of the device
// clock and the time floor, the latest clock reading of a successful
// Refresh. So setting the clock back cannot revive metadata the device
// already saw expire; if the clock reads more than ClockTolerance behind the
// floor, Refresh fails with ErrClockBehind, and the clock needs fixing. The
// floor only protects after a first Refresh with a correct clock.
//
// Target and Targets answer from the last verified state without I/O and
// without checking expiry: freshness is what Refresh establishes.
//
// # Key rotation
//
// RotateKey(role, oldKeyID) writes a new key into the keys directory and
// returns a new root version that lists it instead of the old one. The new
// root is signed by a threshold of the old root's keys and a threshold of
// its own, as TUF requires (5.3.4): a client follows roots one version at a
// time, checking each against the one before. Then it re-signs the role's
// metadata with the new key (and what depends on it: targets → snapshot →
// timestamp), so clients can verify the site as soon as the new root is
// written. When the timestamp or snapshot keys change, clients forget their
// trusted timestamp and snapshot (TUF 5.3.11), so that a fast-forward attack
// made with a compromised key cannot block updates for good.
//
// # Errors
//
// Verification failures match one of ErrExpired, ErrRollback, ErrSignature,
// ErrTooLarge or ErrBadMetadata, and also wrap go-tuf's error; ErrClockBehind,
// ErrUnknownTarget and ErrMissingKey come from this package alone.
package trust
