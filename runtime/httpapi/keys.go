// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// KeyBytes is the entropy of a key made by NewKey: 256 bits.
const KeyBytes = 32

// NewKey returns a new API key, prefix followed by KeyBytes random bytes in
// unpadded base64url (longer than MinKeyLength for any prefix), and its
// SHA-256 in hex, the form a spec's `sha256:` takes.
func NewKey(prefix string) (key, sum string) {
	b := make([]byte, KeyBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	key = prefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(key))
	return key, hex.EncodeToString(h[:])
}
