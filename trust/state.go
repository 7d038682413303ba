package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The client's state directory holds two files:
//
//	state.json   the trusted metadata and the time floor (stateFile)
//	lock         an empty file that Refresh and InstallRoot lock (flock)
//
// state.json is replaced as a whole (write temporary, fsync, rename, fsync
// the directory), so a crash leaves either the old state or the new one,
// never a mix of versions.
const (
	stateFileName = "state.json"
	lockFileName  = "lock"
	stateFormat   = 1
)

// stateFile is the JSON form of state.json. The metadata is kept as the
// exact bytes that were verified (base64 in JSON), because snapshot and
// targets are checked against hashes of those bytes.
type stateFile struct {
	Format    int       `json:"format"`
	Root      []byte    `json:"root"`
	Timestamp []byte    `json:"timestamp,omitempty"`
	Snapshot  []byte    `json:"snapshot,omitempty"`
	Targets   []byte    `json:"targets,omitempty"`
	TimeFloor time.Time `json:"time_floor"`
}

type state struct {
	raw       rawChain
	timeFloor time.Time // UTC
}

func encodeState(s state) ([]byte, error) {
	b, err := json.MarshalIndent(stateFile{
		Format:    stateFormat,
		Root:      s.raw.Root,
		Timestamp: s.raw.Timestamp,
		Snapshot:  s.raw.Snapshot,
		Targets:   s.raw.Targets,
		TimeFloor: s.timeFloor.UTC(),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("state: %w", err) // a time floor past year 9999
	}
	return append(b, '\n'), nil
}

// decodeState parses state.json. It accepts only what encodeState writes
// (it re-encodes and compares); it does not verify the metadata.
func decodeState(data []byte) (state, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f stateFile
	if err := dec.Decode(&f); err != nil {
		return state{}, fmt.Errorf("state: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return state{}, errors.New("state: data after the JSON object")
	}
	if f.Format != stateFormat {
		return state{}, fmt.Errorf("state: format %d, want %d", f.Format, stateFormat)
	}
	if len(f.Root) == 0 {
		return state{}, errors.New("state: no root")
	}
	if y := f.TimeFloor.Year(); y < 1 || y > 9999 {
		return state{}, fmt.Errorf("state: time floor out of range")
	}
	s := state{raw: rawChain{f.Root, f.Timestamp, f.Snapshot, f.Targets}, timeFloor: f.TimeFloor}
	if b, err := encodeState(s); err != nil || !bytes.Equal(b, data) {
		return state{}, errors.New("state: not in canonical form")
	}
	return s, nil
}
