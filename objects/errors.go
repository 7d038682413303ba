package objects

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is; every error returned by this
// package and by stores that wrap it matches one of them where it applies.
var (
	// ErrNotFound: the store does not hold the object.
	ErrNotFound = errors.New("object not found")
	// ErrCorrupt: the bytes do not hash to the object's ID, or are cut short or too long.
	ErrCorrupt = errors.New("object corrupt")
	// ErrInvalid: the bytes are not a canonical encoding of a valid object.
	ErrInvalid = errors.New("invalid object")
)

// NotFoundError says which object is missing. It matches ErrNotFound.
type NotFoundError struct {
	Kind Kind
	ID   ID
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Kind, e.ID, ErrNotFound)
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// CorruptError says which object is damaged and how. It matches ErrCorrupt.
type CorruptError struct {
	Kind   Kind
	Want   ID     // the ID the bytes should hash to
	Got    ID     // what they hashed to; zero when the length was wrong
	Reason string // "hash mismatch", "too long", "truncated", ...
}

func (e *CorruptError) Error() string {
	if e.Got.IsZero() {
		return fmt.Sprintf("%s %s: %v: %s", e.Kind, e.Want, ErrCorrupt, e.Reason)
	}
	return fmt.Sprintf("%s %s: %v: %s (bytes hash to %s)", e.Kind, e.Want, ErrCorrupt, e.Reason, e.Got.Short())
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// InvalidError says why bytes are not a valid object. It matches ErrInvalid.
type InvalidError struct {
	Kind   Kind
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Kind, ErrInvalid, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(k Kind, format string, args ...any) error {
	return &InvalidError{Kind: k, Reason: fmt.Sprintf(format, args...)}
}
