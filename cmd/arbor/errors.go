package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/client"
	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/packs"
	"github.com/arbor-ota/arbor/repo"
)

// Exit codes, documented in 'arbor --help' and the README.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitDamage      = 4
	exitLocked      = 5
	exitInterrupted = 130
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// damageError says a check found damage; the details were already printed.
type damageError struct{ msg string }

func (e *damageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	var de *damageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue), isCobraUsage(err):
		return exitUsage
	case errors.As(err, &de), errors.Is(err, objects.ErrCorrupt), errors.Is(err, objects.ErrInvalid),
		errors.Is(err, client.ErrSiteDamaged), errors.Is(err, client.ErrCommitCorrupt), errors.Is(err, packs.ErrBadBlock):
		return exitDamage
	case errors.Is(err, repo.ErrLocked), errors.Is(err, deploy.ErrLocked):
		return exitLocked
	case errors.Is(err, objects.ErrNotFound), errors.Is(err, repo.ErrRefNotFound), errors.Is(err, repo.ErrNotRepo),
		errors.Is(err, repo.ErrAmbiguous), errors.Is(err, errPathNotFound), errors.Is(err, client.ErrNoRemote),
		errors.Is(err, deploy.ErrNotInitialized), errors.Is(err, deploy.ErrNoDeployment):
		return exitNotFound
	}
	return exitError
}

var errPathNotFound = errors.New("no such path")

func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "if any flags in the group"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// reportError prints err as one line and returns the exit code.
func reportError(w io.Writer, err error) int {
	code := exitCode(err)
	if err == nil {
		return code
	}
	var de *damageError
	if !errors.As(err, &de) || de.msg != "" {
		msg := err.Error()
		if code == exitUsage {
			msg += " (see 'arbor --help')"
		}
		if errors.Is(err, checkout.ErrNotEmpty) {
			msg += "; choose a new directory"
		}
		fmt.Fprintf(w, "arbor: %s\n", strings.ReplaceAll(msg, "\n", "; "))
	}
	return code
}
