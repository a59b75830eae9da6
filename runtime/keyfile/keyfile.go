// SPDX-License-Identifier: Apache-2.0

// Package keyfile reads and appends to keys files: the API keys a server
// loads beside its spec's (`security.keys_file`), and re-reads while it
// runs so that keys can be added, rotated and revoked without a restart.
//
// A keys file is YAML holding one mapping, `keys`, of key ids to entries
// shaped like the spec's keys, with the key's SHA-256 and never the key:
//
//	keys:
//	  ci_deploy:
//	    sha256: 54ee267ca5a2e2a08d64b208b391fb1f8c362b3df806c5c5ccacc03a2a7148f6
//	    role: admin
//	    pipelines: ["*"]
//	    expires: 2027-06-30
//	    description: the deploy job
//
// `taskwire keygen --append FILE --id ID --role ROLE` makes a key and
// appends its entry.
package keyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/taskwire/taskwire/runtime/pattern"
)

// MaxSize is the largest keys file read (1 MiB, some thousands of keys).
const MaxSize = 1 << 20

// Entry is one key of a keys file.
type Entry struct {
	ID          string
	SHA256      string // lowercase hex
	Role        string
	Pipelines   []string // patterns
	Expires     time.Time
	Description string
	Line        int // where the entry starts in the file
}

var (
	idRE     = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	// entryKeys are the keys an entry accepts.
	entryKeys = []string{"sha256", "role", "pipelines", "expires", "description"}
)

// Read reads and parses the keys file at path; see Parse.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxSize+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if buf.Len() > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxSize)
	}
	return Parse(path, buf.Bytes())
}

// Parse parses a keys file; name is the file's name in errors. It returns
// the entries in file order, or an error naming every problem found, each
// as FILE:LINE:COL: message. An empty document, or `keys:` with no
// entries, holds no key.
func Parse(name string, data []byte) ([]Entry, error) {
	p := &parser{name: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	var entries []Entry
	p.mapping(root, "a keys file", []string{"keys"}, func(_ string, _, v *yaml.Node) {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return
		}
		p.mapping(v, "keys", nil, func(id string, k, v *yaml.Node) {
			if e, ok := p.entry(id, k, v); ok {
				entries = append(entries, e)
			}
		})
	})
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return entries, nil
}

type parser struct {
	name string
	errs []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d:%d: %s", p.name, n.Line, n.Column, fmt.Sprintf(format, args...)))
}

// mapping walks a mapping node, refusing anything else, aliases, duplicate
// keys and (when known is not nil) unknown keys.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.errorf(n, "YAML anchors and aliases are not supported in %s", what)
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			p.errorf(k, "keys of %s must be plain strings", what)
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if known != nil && !slices.Contains(known, k.Value) {
			p.errorf(k, "unknown key %q in %s; known keys: %s", k.Value, what, strings.Join(known, ", "))
			continue
		}
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			p.errorf(v, "YAML anchors and aliases are not supported in %s", what)
			continue
		}
		fn(k.Value, k, v)
	}
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

func (p *parser) entry(id string, k, n *yaml.Node) (Entry, bool) {
	e := Entry{ID: id, Line: k.Line}
	what := fmt.Sprintf("key %q", id)
	before := len(p.errs)
	if !idRE.MatchString(id) {
		p.errorf(k, "key id %q is not a snake_case name", id)
	}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		p.errorf(n, "%s: a keys file holds the key's sha256, never the key itself (`taskwire keygen --append` writes the entry)", what)
		return e, false
	}
	var hasSum, hasRole bool
	literal := false
	p.mapping(n, what, nil, func(name string, kk, v *yaml.Node) {
		switch name {
		case "sha256":
			if s, ok := p.str(v, what+" sha256"); ok {
				if sha256RE.MatchString(s) {
					e.SHA256, hasSum = strings.ToLower(s), true
				} else {
					p.errorf(v, "%s sha256 must be 64 hexadecimal digits (the SHA-256 of the key, as `taskwire keygen` prints it)", what)
				}
			}
		case "role":
			if s, ok := p.str(v, what+" role"); ok {
				if idRE.MatchString(s) {
					e.Role, hasRole = s, true
				} else {
					p.errorf(v, "%s role %q is not a snake_case name", what, s)
				}
			}
		case "pipelines":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "%s pipelines must be a list of patterns, such as [\"*\"]", what)
				return
			}
			e.Pipelines = []string{}
			for _, item := range v.Content {
				s, ok := p.str(item, what+" pipelines entries")
				if !ok {
					continue
				}
				if err := pattern.Valid(s); err != nil {
					p.errorf(item, "%s pipelines: %v", what, err)
					continue
				}
				e.Pipelines = append(e.Pipelines, s)
			}
		case "expires":
			if s, ok := p.str(v, what+" expires"); ok {
				t, err := ParseExpires(s)
				if err != nil {
					p.errorf(v, "%s expires: %v", what, err)
				}
				e.Expires = t
			}
		case "description":
			if s, ok := p.str(v, what+" description"); ok {
				e.Description = s
			}
		case "env", "key", "value", "secret", "api_key", "token":
			literal = true
			p.errorf(kk, "%s: a keys file holds only the key's sha256 (no %s): the server must never need the key itself", what, name)
		default:
			p.errorf(kk, "unknown key %q in %s; known keys: %s", name, what, strings.Join(entryKeys, ", "))
		}
	})
	if n.Kind == yaml.MappingNode && !literal {
		if !hasSum {
			p.errorf(k, "%s has no sha256", what)
		}
		if !hasRole {
			p.errorf(k, "%s has no role", what)
		}
	}
	return e, len(p.errs) == before
}

// ParseExpires reads an expiry: a date (2027-01-31, the start of that day
// in UTC) or an RFC 3339 time.
func ParseExpires(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)", s)
}

// Append returns the keys file data with e added as the last entry, in
// block style, keeping what data holds (comments included). data may be
// empty: the result is then a new keys file. It refuses an entry whose id
// the file already has, an invalid entry, and data that Parse refuses or
// whose layout it cannot extend (a `keys` mapping written in flow style);
// the result always parses back to the old entries plus e.
func Append(name string, data []byte, e Entry) ([]byte, error) {
	old, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	for _, o := range old {
		if o.ID == e.ID {
			return nil, fmt.Errorf("%s:%d: key %q is already in the file; choose another id, or edit its entry", name, o.Line, e.ID)
		}
	}
	var b bytes.Buffer
	b.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		b.WriteByte('\n')
	}
	if len(old) == 0 && !hasKeysLine(data) {
		b.WriteString("keys:\n")
	}
	fmt.Fprintf(&b, "  %s:\n", e.ID)
	fmt.Fprintf(&b, "    sha256: %s\n", e.SHA256)
	fmt.Fprintf(&b, "    role: %s\n", e.Role)
	b.WriteString("    pipelines: [")
	for i, pt := range e.Pipelines {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", pt)
	}
	b.WriteString("]\n")
	if !e.Expires.IsZero() {
		fmt.Fprintf(&b, "    expires: %s\n", e.Expires.UTC().Format(time.RFC3339))
	}
	if e.Description != "" {
		fmt.Fprintf(&b, "    description: %q\n", e.Description)
	}
	out := b.Bytes()
	got, err := Parse(name, out)
	if err != nil {
		return nil, fmt.Errorf("%s: the new entry would not parse (%v); is `keys:` the last mapping of the file, in block style?", name, err)
	}
	if len(got) != len(old)+1 || got[len(got)-1].ID != e.ID {
		return nil, fmt.Errorf("%s: cannot append to this file's layout; write `keys:` in block style at the end of the file", name)
	}
	return out, nil
}

// hasKeysLine reports whether data has a `keys:` line with nothing after
// the colon (an empty block mapping, which Parse reads as no keys).
func hasKeysLine(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if before, _, _ := strings.Cut(line, "#"); strings.TrimRight(before, " \t") == "keys:" {
			return true
		}
	}
	return false
}
