package deploy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/objects"
)

// view is the sysroot as one command sees it: the boot entries (the truth
// about what boots next), the deployment records, what is booted, and the
// agent's history.
type view struct {
	s       *Sysroot
	entries []boot.Entry // in the boot loader's order
	records map[string]*Record
	booted  string // deployment name from the kernel command line; "" if unknown
	// bootedName is the entry the boot loader says it booted ("" if it does not say).
	bootedName string
	agent      *AgentState
}

func (s *Sysroot) load() (*view, error) {
	v := &view{s: s, records: map[string]*Record{}}
	var err error
	if v.entries, err = s.boot.Entries(s.cfg.OS); err != nil {
		return nil, err
	}
	for _, e := range v.entries {
		n := v.entryName(e)
		if n == "" || v.records[n] != nil {
			continue
		}
		r, err := s.readRecord(n)
		if err != nil {
			return nil, err
		}
		if r != nil {
			v.records[n] = r
		}
	}
	if v.booted, err = s.bootedDeployment(); err != nil {
		return nil, err
	}
	if v.bootedName, err = s.boot.Booted(); err != nil {
		s.opts.Warn(fmt.Sprintf("cannot tell which boot entry was booted: %v", err))
	}
	if v.agent, err = s.readAgent(); err != nil {
		return nil, err
	}
	return v, nil
}

// entryName returns the deployment an entry boots, "" if it names none of
// this sysroot's.
func (v *view) entryName(e boot.Entry) string {
	p := e.Deployment()
	prefix := "/arbor/deploy/" + v.s.cfg.OS + "/"
	name, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return ""
	}
	if _, _, err := ParseName(name); err != nil {
		return ""
	}
	return name
}

// bootedDeployment reads arbor= from the running kernel's command line.
func (s *Sysroot) bootedDeployment() (string, error) {
	b, err := os.ReadFile(s.opts.Cmdline)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	p := boot.KernelArg(string(b), "arbor")
	name, ok := strings.CutPrefix(p, "/arbor/deploy/"+s.cfg.OS+"/")
	if !ok {
		return "", nil
	}
	if _, _, err := ParseName(name); err != nil {
		return "", nil
	}
	return name, nil
}

// bootedEntry returns the entry that was booted: the one the boot loader
// names, else the newest entry of the booted deployment; nil if unknown.
func (v *view) bootedEntry() *boot.Entry {
	if v.bootedName != "" {
		for i := range v.entries {
			if v.entries[i].Name == v.bootedName {
				return &v.entries[i]
			}
		}
	}
	if v.booted == "" {
		return nil
	}
	var best *boot.Entry
	for i := range v.entries {
		if v.entryName(v.entries[i]) == v.booted && (best == nil || v.entries[i].Number > best.Number) {
			best = &v.entries[i]
		}
	}
	return best
}

// newest returns the entry with the highest number: the one deployed last.
func (v *view) newest() *boot.Entry {
	var best *boot.Entry
	for i := range v.entries {
		if best == nil || v.entries[i].Number > best.Number {
			best = &v.entries[i]
		}
	}
	return best
}

// rollbackFrom returns the entry the boot loader gave up on for this boot:
// the newest entry is not the booted deployment's and its tries ran out.
func (v *view) rollbackFrom() *boot.Entry {
	if v.booted == "" {
		return nil
	}
	n := v.newest()
	if n == nil || v.entryName(*n) == v.booted || !n.Bad {
		return nil
	}
	return n
}

// noticeRollback records a fallback of the boot loader once: an event
// "rolled-back" and the commit as failed, so that upgrade does not deploy
// it again by itself. The caller holds the lock.
func (s *Sysroot) noticeRollback(v *view) (*Event, error) {
	from := v.rollbackFrom()
	if from == nil {
		return nil, nil
	}
	fromName := v.entryName(*from)
	commit, _, err := ParseName(fromName)
	if err != nil {
		return nil, nil
	}
	if f := v.agent.failure(commit); f != nil && f.Entry == from.Number && f.Deployment == fromName {
		return nil, nil
	}
	detail := "its boot tries ran out"
	if from.Tries != nil {
		detail = fmt.Sprintf("its boot tries ran out after %d boots", from.Tries.Done)
	}
	now := s.opts.Clock().UTC()
	ev := Event{Time: now, Kind: "rolled-back", Deployment: v.booted, From: fromName, Entry: from.Number, Detail: detail}
	err = s.updateAgent(func(a *AgentState) {
		a.Events = append(a.Events, ev)
		a.Failed = append(a.Failed, Failure{Commit: commit, Deployment: fromName, Entry: from.Number, Time: now,
			Reason: "rolled back: " + detail})
	})
	if err != nil {
		return nil, err
	}
	v.agent, err = s.readAgent()
	return &ev, err
}

// Status is what 'arbor status' shows.
type Status struct {
	OS         string `json:"os"`
	Sysroot    string `json:"sysroot"`
	BootDir    string `json:"boot_dir"`
	Bootloader string `json:"bootloader"`
	// Booted names the running deployment; "" when the system was not
	// booted from one of this sysroot's deployments.
	Booted      string             `json:"booted"`
	Deployments []DeploymentStatus `json:"deployments"`
	// RolledBackFrom is set when this boot is the boot loader's fallback:
	// the deployment it gave up on.
	RolledBackFrom string    `json:"rolled_back_from,omitempty"`
	Last           *Event    `json:"last"`
	Failed         []Failure `json:"failed"`
}

// DeploymentStatus is one deployment in boot order; Index is what
// undeploy and pin take.
type DeploymentStatus struct {
	Index   int        `json:"index"`
	Name    string     `json:"name"`
	Commit  objects.ID `json:"commit"`
	Serial  int        `json:"serial"`
	Version string     `json:"version,omitempty"`
	Release int64      `json:"release"`
	Origin  string     `json:"origin,omitempty"`
	Kernel  string     `json:"kernel,omitempty"`
	Entry   string     `json:"entry"`
	Number  int        `json:"number"`
	// State: "booted", "pending" (the next boot, not booted yet),
	// "rollback" (the fallback), "bad" (tries ran out or failed), or "" for others.
	State    string      `json:"state"`
	Booted   bool        `json:"booted"`
	Default  bool        `json:"default"`
	Pinned   bool        `json:"pinned"`
	Tries    *boot.Tries `json:"tries"` // the boot counter while on trial
	Blessed  bool        `json:"blessed"`
	Failed   bool        `json:"failed"`
	Conflict []Conflict  `json:"etc_conflicts"`
	Created  time.Time   `json:"created"`
}

// Status reports the deployments in boot order and what happened last.
// Seeing for the first time that the boot loader fell back, it records the
// rollback (if no other arbor holds the sysroot; the next command does
// otherwise).
func (s *Sysroot) Status() (*Status, error) {
	v, err := s.load()
	if err != nil {
		return nil, err
	}
	if v.rollbackFrom() != nil {
		if unlock, ok := s.tryLock(); ok {
			_, err := s.noticeRollback(v)
			unlock()
			if err != nil {
				return nil, err
			}
		}
	}
	return s.status(v), nil
}

func (s *Sysroot) status(v *view) *Status {
	st := &Status{OS: s.cfg.OS, Sysroot: s.path, BootDir: s.BootDir(), Bootloader: s.boot.Name(),
		Booted: v.booted, Failed: v.agent.Failed, Deployments: []DeploymentStatus{}}
	if n := len(v.agent.Events); n > 0 {
		st.Last = &v.agent.Events[n-1]
	}
	if from := v.rollbackFrom(); from != nil {
		st.RolledBackFrom = v.entryName(*from)
	}
	be := v.bootedEntry()
	fallback := false
	for i, e := range v.entries {
		name := v.entryName(e)
		d := DeploymentStatus{Index: i, Name: name, Entry: e.Name, Number: e.Number, Tries: e.Tries,
			Default: i == 0, Conflict: []Conflict{}}
		if id, serial, err := ParseName(name); err == nil {
			d.Commit, d.Serial = id, serial
			d.Failed = v.agent.failure(id) != nil
		}
		if r := v.records[name]; r != nil {
			d.Version, d.Release, d.Origin, d.Kernel, d.Pinned, d.Created = r.Version, r.Release, r.Origin, r.Kernel, r.Pinned, r.Created
			if r.EtcConflicts != nil {
				d.Conflict = r.EtcConflicts
			}
		}
		d.Booted = be != nil && e.Name == be.Name
		d.Blessed = e.Tries == nil
		switch {
		case d.Booted:
			d.State = "booted"
		case e.Bad:
			d.State = "bad"
		case i == 0:
			d.State = "pending"
		case !fallback:
			d.State = "rollback"
			fallback = true
		}
		if d.Booted && i > 0 && !fallback {
			fallback = true
		}
		st.Deployments = append(st.Deployments, d)
	}
	return st
}
