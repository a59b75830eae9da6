package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
)

// keyBytes is the entropy of a generated key: 256 bits.
const keyBytes = 32

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,16}$`)

func runKeygen(e *env, args []string) int {
	fs := newFlags(e, "keygen")
	prefix := fs.String("prefix", "sk_", "a recognisable prefix for the key (letters, digits, _ and -, up to 16)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return usageError(e, "keygen", "unexpected argument %q", rest[0])
	}
	if !prefixRE.MatchString(*prefix) {
		return usageError(e, "keygen", "prefix %q must be up to 16 letters, digits, _ or -", *prefix)
	}
	key, sum, err := newKey(*prefix)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire keygen: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "key:    %s\nsha256: %s\n", key, sum)
	fmt.Fprintf(e.stderr, "Give the key to its client once; put either `env: VARIABLE` (holding the key) or `sha256: %s` in the spec.\n", sum)
	return exitOK
}

// newKey returns a random key with 256 bits of entropy and its SHA-256 in hex.
func newKey(prefix string) (key, sum string, err error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	key = prefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(key))
	return key, hex.EncodeToString(h[:]), nil
}
