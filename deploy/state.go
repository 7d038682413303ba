package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
)

// MaxStateSize caps a state file that arbor reads.
const MaxStateSize = 4 << 20

// Record is what arbor keeps about one deployment, in
// SYSROOT/arbor/state/deployments/COMMIT.SERIAL.json, written before the
// deployment's boot entry.
type Record struct {
	Format  int        `json:"format"`
	Name    string     `json:"name"` // COMMIT.SERIAL
	Commit  objects.ID `json:"commit"`
	Serial  int        `json:"serial"`
	Origin  string     `json:"origin,omitempty"` // what was deployed: remote:ref, ref or ID
	Version string     `json:"version,omitempty"`
	Release int64      `json:"release"`
	Created time.Time  `json:"created"`
	// Kernel is the kernel version directory under usr/lib/modules.
	Kernel string `json:"kernel"`
	// BootDir is the kernel's directory in the boot directory: arbor/OS-BOOTCSUM.
	BootDir string   `json:"boot_dir"`
	Kargs   []string `json:"kargs"`
	Pinned  bool     `json:"pinned,omitempty"`
	// EtcMergedFrom names the deployment whose /etc was merged in.
	EtcMergedFrom string     `json:"etc_merged_from,omitempty"`
	EtcConflicts  []Conflict `json:"etc_conflicts,omitempty"`
}

// Conflict is a file of /etc that the device changed and the new defaults
// changed too: the device's version was kept.
type Conflict struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Event is one thing that happened to the sysroot.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is deployed, blessed, health-failed, rolled-back (the boot
	// loader fell back by itself), rollback (asked for), undeployed,
	// pinned or unpinned.
	Kind       string `json:"kind"`
	Deployment string `json:"deployment,omitempty"`
	// From is the deployment left behind (rolled-back, rollback).
	From   string `json:"from,omitempty"`
	Entry  int    `json:"entry,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Failure is a commit that failed on this device: upgrade does not deploy
// it again unless told to.
type Failure struct {
	Commit     objects.ID `json:"commit"`
	Deployment string     `json:"deployment"`
	Entry      int        `json:"entry"`
	Time       time.Time  `json:"time"`
	Reason     string     `json:"reason"`
}

// AgentState is SYSROOT/arbor/state/agent.json: the history (the last
// MaxEvents events) and the failed commits, kept in one file so that one
// atomic write records both.
type AgentState struct {
	Format int       `json:"format"`
	Events []Event   `json:"events"`
	Failed []Failure `json:"failed"`
}

// MaxEvents is how many events the history keeps.
const MaxEvents = 200

const stateFormat = 1

var nameRE = regexp.MustCompile(`^([0-9a-f]{64})\.([0-9]{1,6})$`)

// ParseName splits a deployment name COMMIT.SERIAL.
func ParseName(name string) (objects.ID, int, error) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return objects.ID{}, 0, fmt.Errorf("%w: %q is not COMMIT.SERIAL", ErrNoDeployment, name)
	}
	id, err := objects.ParseID(m[1])
	if err != nil {
		return objects.ID{}, 0, err
	}
	n, _ := strconv.Atoi(m[2])
	return id, n, nil
}

// DeploymentName returns COMMIT.SERIAL.
func DeploymentName(commit objects.ID, serial int) string {
	return commit.String() + "." + strconv.Itoa(serial)
}

func decodeStrict(b []byte, v any) error {
	if len(b) > MaxStateSize {
		return fmt.Errorf("state file of %d bytes is over %d", len(b), MaxStateSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// ParseRecord decodes a deployment record.
func ParseRecord(b []byte) (*Record, error) {
	var r Record
	if err := decodeStrict(b, &r); err != nil {
		return nil, fmt.Errorf("deployment record: %w", err)
	}
	if r.Format != stateFormat {
		return nil, fmt.Errorf("deployment record format %d is not supported", r.Format)
	}
	id, serial, err := ParseName(r.Name)
	if err != nil || id != r.Commit || serial != r.Serial {
		return nil, fmt.Errorf("deployment record: name %q does not match commit and serial", r.Name)
	}
	for _, k := range r.Kargs {
		if err := checkKarg(k); err != nil {
			return nil, fmt.Errorf("deployment record: %w", err)
		}
	}
	return &r, nil
}

// ParseAgentState decodes agent.json.
func ParseAgentState(b []byte) (*AgentState, error) {
	var a AgentState
	if err := decodeStrict(b, &a); err != nil {
		return nil, fmt.Errorf("agent state: %w", err)
	}
	if a.Format != stateFormat {
		return nil, fmt.Errorf("agent state format %d is not supported", a.Format)
	}
	if len(a.Events) > MaxEvents {
		return nil, fmt.Errorf("agent state: %d events, over %d", len(a.Events), MaxEvents)
	}
	return &a, nil
}

func (s *Sysroot) recordsDir() string { return filepath.Join(statePath(s.path), "deployments") }

func (s *Sysroot) recordPath(name string) string {
	return filepath.Join(s.recordsDir(), name+".json")
}

// readRecord returns a deployment's record; nil (and no error) if it has none.
func (s *Sysroot) readRecord(name string) (*Record, error) {
	b, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.recordPath(name), err)
	}
	return r, nil
}

func (s *Sysroot) writeRecord(r *Record) error {
	if err := os.MkdirAll(s.recordsDir(), 0o755); err != nil {
		return err
	}
	r.Format = stateFormat
	return writeJSON(s.recordPath(r.Name), r)
}

func (s *Sysroot) agentPath() string { return filepath.Join(statePath(s.path), "agent.json") }

// readAgent returns the agent state; an empty one if there is none yet.
func (s *Sysroot) readAgent() (*AgentState, error) {
	b, err := os.ReadFile(s.agentPath())
	if errors.Is(err, os.ErrNotExist) {
		return &AgentState{Format: stateFormat}, nil
	}
	if err != nil {
		return nil, err
	}
	a, err := ParseAgentState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.agentPath(), err)
	}
	return a, nil
}

// updateAgent applies fn to the agent state and writes it atomically.
func (s *Sysroot) updateAgent(fn func(a *AgentState)) error {
	a, err := s.readAgent()
	if err != nil {
		return err
	}
	fn(a)
	if len(a.Events) > MaxEvents {
		a.Events = a.Events[len(a.Events)-MaxEvents:]
	}
	a.Format = stateFormat
	if a.Events == nil {
		a.Events = []Event{}
	}
	if a.Failed == nil {
		a.Failed = []Failure{}
	}
	return writeJSON(s.agentPath(), a)
}

// record appends an event to the history.
func (s *Sysroot) record(e Event) error {
	e.Time = s.opts.Clock().UTC()
	return s.updateAgent(func(a *AgentState) { a.Events = append(a.Events, e) })
}

// failure returns the recorded failure of a commit, or nil.
func (a *AgentState) failure(c objects.ID) *Failure {
	for i := range a.Failed {
		if a.Failed[i].Commit == c {
			return &a.Failed[i]
		}
	}
	return nil
}

// checkKarg refuses a kernel argument that would break an entry or the
// arbor= argument arbor sets itself.
func checkKarg(k string) error {
	if k == "" || strings.ContainsAny(k, " \t\n\r\x00") {
		return fmt.Errorf("kernel argument %q: empty or with blanks", k)
	}
	if key, _, _ := strings.Cut(k, "="); key == "arbor" {
		return fmt.Errorf("kernel argument %q: arbor= is set by arbor itself", k)
	}
	return nil
}

// Failure returns the recorded failure of a commit on this device (the boot
// loader fell back from it), or nil.
func (s *Sysroot) Failure(commit objects.ID) (*Failure, error) {
	a, err := s.readAgent()
	if err != nil {
		return nil, err
	}
	return a.failure(commit), nil
}
