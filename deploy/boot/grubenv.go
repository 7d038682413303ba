package boot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// GrubEnvSize is the size of a GRUB environment block file.
const GrubEnvSize = 1024

const grubEnvHeader = "# GRUB Environment Block\n"

// ErrBadGrubEnv is matched by errors of ParseGrubEnv.
var ErrBadGrubEnv = errors.New("malformed GRUB environment block")

// ParseGrubEnv parses a grubenv file as GRUB's envblk does: the header
// line, then name=value lines in which a backslash escapes the next byte
// (a newline or a backslash), and lines starting with '#' (comments, such
// as grub-editenv's warning, and the padding to 1024 bytes) in between.
func ParseGrubEnv(b []byte) (*Vars, error) {
	if len(b) != GrubEnvSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadGrubEnv, len(b), GrubEnvSize)
	}
	if !bytes.HasPrefix(b, []byte(grubEnvHeader)) {
		return nil, fmt.Errorf("%w: no header", ErrBadGrubEnv)
	}
	g := &Vars{}
	p := b[len(grubEnvHeader):]
	for len(p) > 0 {
		if p[0] == '#' {
			nl := bytes.IndexByte(p, '\n')
			if nl < 0 {
				break
			}
			p = p[nl+1:]
			continue
		}
		eq := bytes.IndexByte(p, '=')
		nl := bytes.IndexByte(p, '\n')
		if eq < 0 || (nl >= 0 && nl < eq) {
			return nil, fmt.Errorf("%w: a line without '='", ErrBadGrubEnv)
		}
		name := string(p[:eq])
		if err := checkGrubName(name); err != nil {
			return nil, err
		}
		p = p[eq+1:]
		var val []byte
		ended := false
		for len(p) > 0 {
			c := p[0]
			p = p[1:]
			if c == '\\' {
				if len(p) == 0 {
					return nil, fmt.Errorf("%w: escape at the end", ErrBadGrubEnv)
				}
				val = append(val, p[0])
				p = p[1:]
				continue
			}
			if c == '\n' {
				ended = true
				break
			}
			val = append(val, c)
		}
		if !ended {
			return nil, fmt.Errorf("%w: unterminated value of %s", ErrBadGrubEnv, name)
		}
		if _, dup := g.Get(name); dup {
			return nil, fmt.Errorf("%w: %s set twice", ErrBadGrubEnv, name)
		}
		g.Set(name, string(val))
	}
	return g, nil
}

func checkGrubName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty variable name", ErrBadGrubEnv)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%w: variable name %q", ErrBadGrubEnv, name)
		}
	}
	return nil
}

// FormatGrubEnv returns the 1024-byte block, values escaped as grub-editenv does.
func FormatGrubEnv(g *Vars) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(grubEnvHeader)
	for _, n := range g.names {
		if err := checkGrubName(n); err != nil {
			return nil, err
		}
		b.WriteString(n)
		b.WriteByte('=')
		v, _ := g.Get(n)
		v = strings.ReplaceAll(v, `\`, `\\`)
		v = strings.ReplaceAll(v, "\n", "\\\n")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if b.Len() > GrubEnvSize {
		return nil, fmt.Errorf("GRUB environment needs %d bytes, over %d", b.Len(), GrubEnvSize)
	}
	for b.Len() < GrubEnvSize {
		b.WriteByte('#')
	}
	return b.Bytes(), nil
}
