// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// Defaults of JWK Set caching (see JWKSOptions).
const (
	DefaultJWKSRefresh    = 10 * time.Minute
	DefaultJWKSMinRefresh = 30 * time.Second
	DefaultJWKSMaxStale   = 24 * time.Hour
	DefaultJWKSTimeout    = 10 * time.Second
	maxJWKSBytes          = 1 << 20
	minRSABits            = 2048
	discoveryPath         = "/.well-known/openid-configuration"
)

// Failures to find a token's key; their text is safe to send.
const (
	errUnknownKeyID    = jwksError("unknown key id (kid)")
	errNoKeysCached    = jwksError("the identity provider's keys are not available")
	errKeyAlgMismatch  = jwksError("the key's algorithm is not the token's")
	errBadKeyIDHeader  = jwksError("kid must be a string")
	errIssuerNotListed = jwksError("wrong issuer")
)

type jwksError string

func (e jwksError) Error() string { return string(e) }

// JWKSOptions tune how a server fetches and caches the signing keys of an
// identity provider (JWT.JWKSURL or JWT.Discovery). Zero fields take the
// defaults.
type JWKSOptions struct {
	// Client fetches the JWK Set and the OpenID configuration (an
	// http.Client with a Timeout of DefaultJWKSTimeout by default).
	Client *http.Client
	// Refresh is how often the keys are fetched again, so that a key the
	// provider removed stops verifying (DefaultJWKSRefresh).
	Refresh time.Duration
	// MinRefresh is the least time between two fetches caused by tokens
	// whose kid is not in the cache (DefaultJWKSMinRefresh): a provider's
	// new key is found at once, and a flood of made-up kids costs the
	// provider one request per MinRefresh.
	MinRefresh time.Duration
	// MaxStale is how long keys stay in use after the last successful
	// fetch while the provider cannot be reached (DefaultJWKSMaxStale);
	// past it tokens are refused until a fetch succeeds (fail closed).
	MaxStale time.Duration
}

// WithJWKS sets how the server fetches and caches an identity provider's
// signing keys.
func WithJWKS(o JWKSOptions) Option { return func(c *config) { c.jwks = o } }

func (o JWKSOptions) withDefaults() JWKSOptions {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultJWKSTimeout}
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultJWKSRefresh
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = DefaultJWKSMinRefresh
	}
	if o.MaxStale <= 0 {
		o.MaxStale = DefaultJWKSMaxStale
	}
	return o
}

// checkFetchURL refuses URLs keys must not be fetched from: anything but
// https, except http to the loopback interface (a provider on the same
// host, or a test's).
func checkFetchURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return fmt.Errorf("jwt %s %q is not an absolute http(s) URL", what, raw)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("jwt %s %q must use https (http only to localhost)", what, raw)
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// remoteKeys are the signing keys of one identity provider, fetched from
// its JWK Set (found through its OpenID configuration with discovery),
// cached by kid. A kid the cache lacks makes one fetch at most every
// MinRefresh; the whole set is fetched again every Refresh. A failed fetch
// keeps the keys cached, for up to MaxStale after the last good one.
type remoteKeys struct {
	issuer   string // with discovery: the issuer whose configuration names the set
	opts     JWKSOptions
	now      func() time.Time
	log      *slog.Logger
	onChange func() // called after a fetch that changed the keys

	mu        sync.Mutex
	url       string // the JWK Set's; found by discovery when issuer is set
	keys      map[string]remoteKey
	fetched   time.Time     // of the last successful fetch; zero: nothing cached yet
	attempted time.Time     // of the last fetch begun
	inflight  chan struct{} // closed when the fetch under way ends; nil when none is
}

type remoteKey struct {
	key any
	alg string // the JWK's alg, when it names one
}

// lookup returns the key of kid, fetching the set once more first when the
// cache lacks kid and the last fetch is at least MinRefresh old (waiting
// for a fetch under way otherwise).
func (rk *remoteKeys) lookup(ctx context.Context, kid string) (remoteKey, error) {
	rk.mu.Lock()
	k, ok, err := rk.cachedLocked(kid)
	if ok {
		rk.mu.Unlock()
		return k, err
	}
	wait := rk.inflight
	if wait == nil {
		if rk.now().Sub(rk.attempted) < rk.opts.MinRefresh && !rk.attempted.IsZero() {
			rk.mu.Unlock()
			return k, err
		}
		wait = rk.startLocked(ctx, false)
	}
	rk.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return remoteKey{}, errNoKeysCached
	}
	rk.mu.Lock()
	defer rk.mu.Unlock()
	k, _, err = rk.cachedLocked(kid)
	return k, err
}

// cachedLocked looks kid up; rk.mu is held. Keys too stale to trust are
// dropped first.
func (rk *remoteKeys) cachedLocked(kid string) (remoteKey, bool, error) {
	if !rk.fetched.IsZero() && rk.now().Sub(rk.fetched) > rk.opts.MaxStale {
		if rk.keys != nil {
			rk.log.Error("taskwire: the identity provider's keys are too old to trust; bearer tokens are refused until they can be fetched", "issuer", rk.issuer, "jwks_url", rk.url, "last_fetched", rk.fetched)
		}
		rk.keys = nil
	}
	if len(rk.keys) == 0 {
		return remoteKey{}, false, errNoKeysCached
	}
	k, ok := rk.keys[kid]
	if !ok {
		return remoteKey{}, false, errUnknownKeyID
	}
	return k, true, nil
}

// startLocked starts a fetch (rediscovering the set's URL first when
// rediscover is set) and returns the channel closed when it ends; rk.mu
// is held.
func (rk *remoteKeys) startLocked(ctx context.Context, rediscover bool) chan struct{} {
	done := make(chan struct{})
	rk.inflight = done
	rk.attempted = rk.now()
	url := rk.url
	go func() {
		defer close(done)
		// The fetch outlives the request that caused it: others wait for it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultJWKSTimeout)
		defer cancel()
		keys, found, err := rk.fetch(fctx, url, rediscover || url == "")
		rk.mu.Lock()
		defer rk.mu.Unlock()
		rk.inflight = nil
		if found != "" {
			rk.url = found
		}
		if err != nil {
			rk.log.Error("taskwire: fetching the identity provider's keys failed; the cached keys stay in use", "issuer", rk.issuer, "jwks_url", rk.url, "err", err, "cached_keys", len(rk.keys))
			return
		}
		changed := !sameKeys(rk.keys, keys)
		rk.keys, rk.fetched = keys, rk.now()
		if changed && rk.onChange != nil {
			rk.onChange()
		}
	}()
	return done
}

// refresh fetches the set again (rediscovering its URL), waiting for the
// fetch to end, or for the fetch under way.
func (rk *remoteKeys) refresh(ctx context.Context) {
	rk.mu.Lock()
	wait := rk.inflight
	if wait == nil {
		wait = rk.startLocked(ctx, true)
	}
	rk.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
	}
}

// run refreshes the keys at once and then every Refresh, until ctx ends.
func (rk *remoteKeys) run(ctx context.Context) {
	rk.refresh(ctx)
	t := time.NewTicker(rk.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rk.refresh(ctx)
		}
	}
}

func sameKeys(a, b map[string]remoteKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, ka := range a {
		kb, ok := b[kid]
		if !ok || ka.alg != kb.alg || !equalKeys(ka.key, kb.key) {
			return false
		}
	}
	return true
}

func equalKeys(a, b any) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// fetch gets the set's keys; with discover it first reads the issuer's
// OpenID configuration for the set's URL, which it returns.
func (rk *remoteKeys) fetch(ctx context.Context, jwksURL string, discover bool) (map[string]remoteKey, string, error) {
	found := ""
	if discover && rk.issuer != "" {
		u, err := rk.discover(ctx)
		if err != nil {
			return nil, "", err
		}
		jwksURL, found = u, u
	}
	if jwksURL == "" {
		return nil, "", errors.New("no JWK Set URL")
	}
	body, err := rk.get(ctx, jwksURL)
	if err != nil {
		return nil, found, err
	}
	keys, err := parseJWKS(body, rk.log)
	return keys, found, err
}

// discover reads the issuer's OpenID configuration (OpenID Connect
// Discovery 1.0, section 4) and returns its jwks_uri.
func (rk *remoteKeys) discover(ctx context.Context) (string, error) {
	body, err := rk.get(ctx, strings.TrimSuffix(rk.issuer, "/")+discoveryPath)
	if err != nil {
		return "", fmt.Errorf("OpenID configuration: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("OpenID configuration: %w", err)
	}
	// Section 4.3: the issuer in the document must be the one asked for,
	// or a document served elsewhere could name other keys.
	if doc.Issuer != rk.issuer {
		return "", fmt.Errorf("OpenID configuration of %s names issuer %q", rk.issuer, doc.Issuer)
	}
	if err := checkFetchURL("jwks_uri", doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OpenID configuration: %w", err)
	}
	return doc.JWKSURI, nil
}

// get fetches url's body, at most maxJWKSBytes of it.
func (rk *remoteKeys) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := rk.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxJWKSBytes)
	}
	return body, nil
}

// parseJWKS reads a JWK Set with jwkset, keeping the public signing keys
// it can use: RSA of 2048 bits or more, ECDSA, Ed25519; keys for
// encryption (use: enc), symmetric keys and keys of unsupported types are
// left out. A set with no usable key is an error, so that a provider's
// bad answer does not empty the cache.
func parseJWKS(body []byte, log *slog.Logger) (map[string]remoteKey, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWK Set: %w", err)
	}
	keys := map[string]remoteKey{}
	for _, m := range set.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			log.Warn("taskwire: a key of the identity provider's JWK Set is left out", "kid", m.KID, "err", err)
			continue
		}
		switch k := jwk.Key().(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < minRSABits {
				log.Warn("taskwire: an RSA key under 2048 bits of the identity provider's JWK Set is left out", "kid", m.KID)
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue // private or symmetric keys have no place in a public set
		}
		if _, dup := keys[m.KID]; dup {
			return nil, fmt.Errorf("JWK Set: two keys have kid %q", m.KID)
		}
		keys[m.KID] = remoteKey{key: jwk.Key(), alg: string(m.ALG)}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWK Set: no usable signing key")
	}
	return keys, nil
}
