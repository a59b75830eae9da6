// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxVerifiedTokens bounds the cache of verified tokens.
const maxVerifiedTokens = 10_000

// tokenCache remembers bearer tokens that passed verification, by their
// SHA-256, until they expire. It serves only addresses past their
// failed-authentication budget (see Server.authenticateThrottled): a token
// a client already used keeps working there without being verified again.
// Clearing it (when keys or secrets change) makes every token be verified
// anew. The zero value is an empty cache.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	p   Principal
	exp time.Time // expiry plus leeway
}

// put remembers that token verified as p at now, valid until exp.
func (c *tokenCache) put(token string, p *Principal, exp, now time.Time) {
	sum := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[sha256.Size]byte]verifiedToken)
	}
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= maxVerifiedTokens {
		c.evict(now)
	}
	c.entries[sum] = verifiedToken{p: *p, exp: exp}
}

// evict drops expired entries and, if the cache is still full, an
// arbitrary tenth of it; c.mu is held.
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.exp) {
			delete(c.entries, k)
		}
	}
	n := len(c.entries) - maxVerifiedTokens*9/10
	for k := range c.entries {
		if n <= 0 {
			break
		}
		delete(c.entries, k)
		n--
	}
}

// get returns the principal of token if it was verified and has not
// expired at now, else nil.
func (c *tokenCache) get(token string, now time.Time) *Principal {
	if len(token) > MaxTokenBytes {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok || !now.Before(e.exp) {
		return nil
	}
	p := e.p
	return &p
}

// clear forgets every token.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}
