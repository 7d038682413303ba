package boot

import (
	"fmt"
	"strconv"
)

// uboot keeps two entries in a redundant U-Boot environment: the default
// (arbor_*) and the fallback (arbor_alt_*), each as its kernel, initramfs
// and kernel command line, ready for the board's bootcmd and altbootcmd
// (README.md shows both). Boot counting is U-Boot's own: while
// upgrade_available is 1, U-Boot counts bootcount up at each boot and, once
// it is above bootlimit, runs altbootcmd instead of bootcmd. Every change is
// one write of the whole environment to its inactive copy.
type uboot struct {
	dir    string
	config string
}

// U-Boot variables arbor reads and writes.
const (
	ubootOS = "arbor_os"
)

var ubootSlots = [2]string{"arbor_", "arbor_alt_"}

func (u *uboot) Name() string            { return "uboot" }
func (u *uboot) Booted() (string, error) { return "", nil }
func (u *uboot) Clean() error            { return nil }

func (u *uboot) env() (*UBootEnv, error) { return OpenUBootEnv(u.config) }

func (u *uboot) Init() error {
	env, err := u.env()
	if err != nil {
		return err
	}
	_, _, _, err = env.Read()
	return err
}

func (u *uboot) read() (*UBootEnv, *Vars, error) {
	env, err := u.env()
	if err != nil {
		return nil, nil, err
	}
	v, _, _, err := env.Read()
	return env, v, err
}

// slot returns the entry stored under a slot's prefix, or nil.
func slot(v *Vars, prefix string) (*Entry, error) {
	num, ok := v.Get(prefix + "entry")
	if !ok || num == "" {
		return nil, nil
	}
	n, ok := parseDecimal(num)
	if !ok {
		return nil, fmt.Errorf("%w: %sentry=%q", ErrBadUBootEnv, prefix, num)
	}
	os, _ := v.Get(ubootOS)
	e := Entry{OS: os, Number: n, Name: grubID(os, n)}
	e.Title, _ = v.Get(prefix + "title")
	e.Linux, _ = v.Get(prefix + "kernel")
	e.Initrd, _ = v.Get(prefix + "initrd")
	e.Options, _ = v.Get(prefix + "bootargs")
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadUBootEnv, err)
	}
	return &e, nil
}

func setSlot(v *Vars, prefix string, e *Entry) {
	if e == nil {
		for _, k := range []string{"entry", "title", "kernel", "initrd", "bootargs"} {
			v.Unset(prefix + k)
		}
		return
	}
	v.Set(ubootOS, e.OS)
	v.Set(prefix+"entry", fmt.Sprintf("%04d", e.Number))
	v.Set(prefix+"title", e.Title)
	v.Set(prefix+"kernel", e.Linux)
	v.Set(prefix+"initrd", e.Initrd)
	v.Set(prefix+"bootargs", e.Options)
}

func (u *uboot) entries(v *Vars) ([]Entry, error) {
	var out []Entry
	for i, p := range ubootSlots {
		e, err := slot(v, p)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		if i == 0 {
			if avail, _ := v.Get("upgrade_available"); avail == "1" {
				count, _ := v.Get("bootcount")
				limit, _ := v.Get("bootlimit")
				c, ok1 := parseDecimal(count)
				l, ok2 := parseDecimal(limit)
				if !ok1 {
					c = 0
				}
				if !ok2 {
					l = 0
				}
				e.Tries = &Tries{Left: max(l-c, 0), Done: c}
				e.Bad = c >= l
			}
		}
		out = append(out, *e)
	}
	return out, nil
}

func (u *uboot) Entries(os string) ([]Entry, error) {
	_, v, err := u.read()
	if err != nil {
		return nil, err
	}
	all, err := u.entries(v)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range all {
		if e.OS == os {
			out = append(out, e)
		}
	}
	return out, nil
}

func (u *uboot) Add(e Entry, tries int) error {
	if err := e.validate(); err != nil {
		return err
	}
	env, v, err := u.read()
	if err != nil {
		return err
	}
	old, err := u.entries(v)
	if err != nil {
		return err
	}
	// The fallback: the old default if it is known good, else the old
	// fallback, else the old default if it is not bad.
	var alt *Entry
	switch {
	case len(old) > 0 && old[0].Tries == nil:
		alt = &old[0]
	case len(old) > 1:
		alt = &old[1]
	case len(old) > 0 && !old[0].Bad:
		alt = &old[0]
	}
	setSlot(v, ubootSlots[0], &e)
	setSlot(v, ubootSlots[1], alt)
	v.Set("bootcount", "0")
	if tries > 0 {
		v.Set("upgrade_available", "1")
		v.Set("bootlimit", strconv.Itoa(tries))
	} else {
		v.Set("upgrade_available", "0")
	}
	return env.Write(v)
}

func (u *uboot) Remove(e Entry) error {
	env, v, err := u.read()
	if err != nil {
		return err
	}
	es, err := u.entries(v)
	if err != nil {
		return err
	}
	switch {
	case len(es) > 1 && es[1].Name == e.Name:
		setSlot(v, ubootSlots[1], nil)
	case len(es) > 0 && es[0].Name == e.Name:
		var next *Entry
		if len(es) > 1 {
			next = &es[1]
		}
		setSlot(v, ubootSlots[0], next)
		setSlot(v, ubootSlots[1], nil)
		v.Set("upgrade_available", "0")
		v.Set("bootcount", "0")
	default:
		return nil
	}
	return env.Write(v)
}

func (u *uboot) Bless(e Entry) error {
	if e.Tries == nil {
		return nil
	}
	env, v, err := u.read()
	if err != nil {
		return err
	}
	v.Set("upgrade_available", "0")
	v.Set("bootcount", "0")
	return env.Write(v)
}

func (u *uboot) MarkBad(e Entry) error {
	if e.Tries == nil {
		return nil
	}
	env, v, err := u.read()
	if err != nil {
		return err
	}
	limit, _ := v.Get("bootlimit")
	l, _ := parseDecimal(limit)
	v.Set("bootcount", strconv.Itoa(l+1))
	return env.Write(v)
}
