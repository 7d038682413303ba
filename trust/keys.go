package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/arbor-ota/arbor/internal/atomicfile"
)

// Role names.
const (
	RoleRoot      = metadata.ROOT
	RoleTargets   = metadata.TARGETS
	RoleSnapshot  = metadata.SNAPSHOT
	RoleTimestamp = metadata.TIMESTAMP
)

var roles = []string{RoleRoot, RoleTargets, RoleSnapshot, RoleTimestamp}

func validRole(r string) bool { return slices.Contains(roles, r) }

// keyFile is the on-disk form of one private key: a JSON object in a file of
// its own, named "<role>-<first 16 hex digits of the key ID>.json".
//
//	{
//	  "role": "targets",
//	  "keyid": "<64 hex: TUF key ID, SHA-256 of the canonical public key>",
//	  "keytype": "ed25519",
//	  "scheme": "ed25519",
//	  "public": "<64 hex: ed25519 public key>",
//	  "private": "<64 hex: ed25519 seed>"
//	}
//
// Every field is required, lowercase hex, and consistent with the seed;
// unknown fields are refused.
type keyFile struct {
	Role    string `json:"role"`
	KeyID   string `json:"keyid"`
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	Public  string `json:"public"`
	Private string `json:"private"`
}

// signingKey is a loaded private key.
type signingKey struct {
	role   string
	id     string
	priv   ed25519.PrivateKey
	pub    *metadata.Key
	signer signature.Signer
}

func newSigningKey(role string, seed []byte) (*signingKey, error) {
	priv := ed25519.NewKeyFromSeed(seed)
	pub, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	id, err := pub.ID()
	if err != nil {
		return nil, err
	}
	signer, err := signature.LoadED25519Signer(priv)
	if err != nil {
		return nil, err
	}
	return &signingKey{role: role, id: id, priv: priv, pub: pub, signer: signer}, nil
}

// generateKey makes a new key for role from 32 bytes of r (crypto/rand when nil).
func generateKey(role string, r io.Reader) (*signingKey, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("generate %s key: %w", role, err)
	}
	return newSigningKey(role, seed)
}

// fileName is the key's file name inside the keys directory.
func (k *signingKey) fileName() string { return k.role + "-" + k.id[:16] + ".json" }

// marshal encodes the key file.
func (k *signingKey) marshal() []byte {
	b, err := json.MarshalIndent(keyFile{
		Role:    k.role,
		KeyID:   k.id,
		KeyType: metadata.KeyTypeEd25519,
		Scheme:  metadata.KeySchemeEd25519,
		Public:  hex.EncodeToString(k.priv.Public().(ed25519.PublicKey)),
		Private: hex.EncodeToString(k.priv.Seed()),
	}, "", "  ")
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return append(b, '\n')
}

// parseKeyFile decodes and checks a key file: exactly one JSON object with
// exactly the known fields, a known role, ed25519, canonical lowercase hex,
// and a public key and key ID that match the seed.
func parseKeyFile(data []byte) (*signingKey, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f keyFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("key file: data after the JSON object")
	}
	if !validRole(f.Role) {
		return nil, fmt.Errorf("key file: unknown role %q", f.Role)
	}
	if f.KeyType != metadata.KeyTypeEd25519 || f.Scheme != metadata.KeySchemeEd25519 {
		return nil, fmt.Errorf("key file: key type %q scheme %q, want ed25519", f.KeyType, f.Scheme)
	}
	seed, err := canonicalHex(f.Private, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("key file: private: %w", err)
	}
	k, err := newSigningKey(f.Role, seed)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if f.Public != k.pub.Value.PublicKey {
		return nil, errors.New("key file: public key does not match the private key")
	}
	if f.KeyID != k.id {
		return nil, fmt.Errorf("key file: key ID %q does not match the key (%s)", f.KeyID, k.id)
	}
	return k, nil
}

// canonicalHex decodes lowercase hex of exactly n bytes.
func canonicalHex(s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n || hex.EncodeToString(b) != s {
		return nil, fmt.Errorf("want %d bytes of lowercase hex", n)
	}
	return b, nil
}

// loadKeys reads every "*.json" file in dir as a key file. A key file that
// others may read, or that does not parse, is an error: keys are never
// skipped silently.
func loadKeys(dir string) ([]*signingKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys directory: %w", err)
	}
	var keys []*signingKey
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("key file %s: not a regular file", p)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("key file %s: mode %v lets others read it; chmod 600", p, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		k, err := parseKeyFile(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// writeKey creates the key's file in dir (mode 0600) and makes it durable.
// It never replaces an existing file.
func writeKey(dir string, k *signingKey) error {
	p := filepath.Join(dir, k.fileName())
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	_, err = f.Write(k.marshal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(dir)
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("write key %s: %w", p, err)
	}
	return nil
}

// hasKeyFiles reports whether dir holds any key file.
func hasKeyFiles(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			return true, nil
		}
	}
	return false, nil
}
