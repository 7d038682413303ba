package trust

import (
	"errors"
	"fmt"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Sentinel errors. Test for them with errors.Is. Errors that come from
// verifying metadata wrap both the sentinel and go-tuf's own error, so the
// message says what exactly failed.
var (
	// ErrExpired: metadata (root, timestamp, snapshot or targets) is past
	// its expiry at the reference time.
	ErrExpired = errors.New("metadata expired")
	// ErrRollback: metadata is older than what the client already trusts,
	// or is not the version that signed metadata announced.
	ErrRollback = errors.New("metadata version rollback")
	// ErrSignature: metadata is not signed by a threshold of the keys the
	// trusted root lists for its role (bad signature, unknown or revoked key).
	ErrSignature = errors.New("bad or insufficient signatures")
	// ErrClockBehind: the device clock reads earlier than the persisted time
	// floor (minus ClockTolerance): it was set back, and trusting it could
	// revive expired metadata.
	ErrClockBehind = errors.New("clock is behind the trusted time floor")
	// ErrUnknownTarget: the trusted targets metadata does not list the name.
	ErrUnknownTarget = errors.New("unknown target")
	// ErrTooLarge: a metadata file is longer than its cap (the signed length
	// for snapshot and targets, a fixed limit for root and timestamp).
	ErrTooLarge = errors.New("metadata too large")
	// ErrBadMetadata: metadata is malformed, does not match the length or
	// hash that signed metadata gives for it, or breaks a rule of arbor's
	// site layout (see the package documentation).
	ErrBadMetadata = errors.New("bad metadata")
	// ErrMissingKey: the publisher lacks enough private keys of a role to
	// reach its threshold.
	ErrMissingKey = errors.New("signing key not available")
)

// ours reports whether err already carries one of this package's sentinels.
func ours(err error) bool {
	for _, s := range []error{ErrExpired, ErrRollback, ErrSignature, ErrClockBehind,
		ErrUnknownTarget, ErrTooLarge, ErrBadMetadata, ErrMissingKey} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// classify maps an error from go-tuf's verification of untrusted bytes onto
// a sentinel, wrapping both: "timestamp.json: metadata expired: expired
// metadata error: timestamp.json is expired".
func classify(what string, err error) error {
	if ours(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var s error
	switch {
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		s = ErrExpired
	case errors.Is(err, &metadata.ErrUnsignedMetadata{}):
		s = ErrSignature
	case errors.Is(err, &metadata.ErrBadVersionNumber{}):
		s = ErrRollback
	default:
		// ErrLengthOrHashMismatch, ErrValue (bad key, missing delegation),
		// ErrType, ErrRepository (wrong _type, missing meta), JSON syntax.
		s = ErrBadMetadata
	}
	return fmt.Errorf("%s: %w: %w", what, s, err)
}

// classifyVersion is classify for a check that compared a version got with
// the version want that signed metadata announced: a newer version than
// announced is malformed, not a rollback.
func classifyVersion(what string, err error, got, want int64) error {
	if errors.Is(err, &metadata.ErrBadVersionNumber{}) && !ours(err) && got > want {
		return fmt.Errorf("%s: %w: version %d, expected %d: %w", what, ErrBadMetadata, got, want, err)
	}
	return classify(what, err)
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMetadata, fmt.Sprintf(format, args...))
}
