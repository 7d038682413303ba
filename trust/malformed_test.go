package trust

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestSignedButMalformed: metadata signed by the right keys but breaking
// arbor's rules (several of which would make go-tuf dereference nil) is
// refused with ErrBadMetadata, and nothing panics.
func TestSignedButMalformed(t *testing.T) {
	type edits struct {
		targets   func(*metadata.TargetsType)
		snapshot  func(*metadata.SnapshotType)
		timestamp func(*metadata.TimestampType)
	}
	custom := json.RawMessage(`{"a":1,"a":2}`)
	tests := map[string]edits{
		"timestamp meta null": {timestamp: func(s *metadata.TimestampType) { s.Meta[snapshotMetaName] = nil }},
		"timestamp meta missing": {timestamp: func(s *metadata.TimestampType) {
			s.Meta = map[string]*metadata.MetaFiles{"other.json": s.Meta[snapshotMetaName]}
		}},
		"timestamp meta extra": {timestamp: func(s *metadata.TimestampType) { s.Meta["other.json"] = s.Meta[snapshotMetaName] }},
		"timestamp no length":  {timestamp: func(s *metadata.TimestampType) { s.Meta[snapshotMetaName].Length = 0 }},
		"timestamp no hash":    {timestamp: func(s *metadata.TimestampType) { s.Meta[snapshotMetaName].Hashes = nil }},
		"timestamp md5": {timestamp: func(s *metadata.TimestampType) {
			s.Meta[snapshotMetaName].Hashes["md5"] = make([]byte, 16)
		}},
		"timestamp short hash": {timestamp: func(s *metadata.TimestampType) {
			s.Meta[snapshotMetaName].Hashes[hashSHA256] = make([]byte, 31)
		}},
		"timestamp version 0": {timestamp: func(s *metadata.TimestampType) { s.Version = 0 }},
		"snapshot meta null":  {snapshot: func(s *metadata.SnapshotType) { s.Meta[targetsMetaName] = nil }},
		"snapshot meta extra": {snapshot: func(s *metadata.SnapshotType) { s.Meta["role1.json"] = s.Meta[targetsMetaName] }},
		"snapshot no length":  {snapshot: func(s *metadata.SnapshotType) { s.Meta[targetsMetaName].Length = 0 }},
		"targets delegations": {targets: func(s *metadata.TargetsType) {
			s.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
		}},
		"target null":      {targets: func(s *metadata.TargetsType) { s.Targets["refs/os/x"] = nil }},
		"target bad name":  {targets: func(s *metadata.TargetsType) { s.Targets["../x"] = s.Targets["refs/os/stable"] }},
		"target no sha256": {targets: func(s *metadata.TargetsType) { delete(s.Targets["refs/os/stable"].Hashes, hashSHA256) }},
		"target negative":  {targets: func(s *metadata.TargetsType) { s.Targets["refs/os/stable"].Length = -1 }},
		"target custom duplicate key": {targets: func(s *metadata.TargetsType) {
			s.Targets["refs/os/stable"].Custom = &custom
		}},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)
			p := r.publisher()
			exp := t0.Add(time.Hour)

			tg := metadata.Targets(exp)
			tg.Signed.Version = 3
			tg.Signed.Targets = map[string]*metadata.TargetFiles{
				"refs/os/stable": {Length: 2, Hashes: metadata.Hashes{hashSHA256: make([]byte, 32)}},
			}
			if e.targets != nil {
				e.targets(&tg.Signed)
			}
			tgRaw, err := signWith(tg, keysOf(p, RoleTargets))
			if err != nil {
				t.Fatal(err)
			}
			sn := metadata.Snapshot(exp)
			sn.Signed.Version = 3
			sn.Signed.Meta = map[string]*metadata.MetaFiles{targetsMetaName: metaFor(3, tgRaw)}
			if e.snapshot != nil {
				e.snapshot(&sn.Signed)
			}
			snRaw, err := signWith(sn, keysOf(p, RoleSnapshot))
			if err != nil {
				t.Fatal(err)
			}
			ts := metadata.Timestamp(exp)
			ts.Signed.Version = 3
			ts.Signed.Meta = map[string]*metadata.MetaFiles{snapshotMetaName: metaFor(3, snRaw)}
			if e.timestamp != nil {
				e.timestamp(&ts.Signed)
			}
			tsRaw, err := signWith(ts, keysOf(p, RoleTimestamp))
			if err != nil {
				t.Fatal(err)
			}
			r.site.write([]File{{TargetsFile(3), tgRaw}, {SnapshotFile(3), snRaw}, {TimestampFile, tsRaw}})
			refreshFails(t, c, dir, ErrBadMetadata)
			// A fresh client too (no trusted timestamp to compare with).
			c2, dir2 := r.newClient()
			refreshFails(t, c2, dir2, ErrBadMetadata)
		})
	}
}

func TestDecoderPanicRecovered(t *testing.T) {
	data := []byte(`{"signed":{"_type":"targets","targets":{"x":null}},"signatures":[]}`)
	if _, err := parseTargets(data); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("parseTargets: %v, want ErrBadMetadata", err)
	} else {
		t.Log(err)
	}
}
