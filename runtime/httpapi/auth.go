// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskwire/taskwire/runtime/keyfile"
	"github.com/taskwire/taskwire/runtime/pattern"
)

// MinKeyLength is the shortest API key a server accepts from the
// environment: 32 characters (`taskwire keygen` makes 46).
const MinKeyLength = 32

// maxCredentialLength bounds an API key header value; longer values are
// refused without hashing.
const maxCredentialLength = 512

// Authentication failures. Their text is the detail of the 401 response, so
// it never contains the credential.
var (
	errNoCredentials       = errors.New(detailNotAuthenticated)
	errBadKey              = errors.New("invalid API key")
	errExpiredKey          = errors.New("API key expired")
	errSeveralKeys         = errors.New("send exactly one API key header")
	errConflictingIdentity = errors.New("the API key and the bearer token name different principals")
)

type keyEntry struct {
	hash      [sha256.Size]byte
	principal Principal
	expires   time.Time
}

// authenticator checks API keys and bearer tokens. It keeps only the keys'
// SHA-256 hashes. Keys and secrets are loaded by reload, at start and
// whenever the server reloads them, and swapped in as a whole.
type authenticator struct {
	header    string
	canonical string // header, canonicalised once rather than per request
	apiKey    bool
	sec       Security
	getenv    func(string) string
	keys      atomic.Pointer[[]keyEntry]
	jwt       *jwtVerifier
	now       func() time.Time
	// fileSeen is the keys file's state when reload last read it (a nil
	// FileInfo when it could not be stat'ed), for WatchReloads.
	fileSeen atomic.Pointer[fileState]
	reloadMu sync.Mutex // one reload at a time, so that the last one read wins
}

type fileState struct{ fi os.FileInfo }

func newAuthenticator(sec Security, getenv func(string) string, now func() time.Time, jo JWKSOptions, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{header: sec.APIKeyHeader, apiKey: sec.APIKey, sec: sec, getenv: getenv, now: now}
	if a.header == "" {
		a.header = "X-API-Key"
	}
	a.canonical = textproto.CanonicalMIMEHeaderKey(a.header)
	if !sec.APIKey && !sec.JWT {
		return nil, errors.New("security is enabled but neither API keys nor JWT are accepted")
	}
	if sec.JWT {
		v, err := newJWTVerifier(sec.JWTConfig, now, jo, log)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload reads the API keys (the spec's, from the environment, and the
// keys file's) and the JWT secrets or public key again. It puts them in
// place together, or returns every problem and changes nothing.
func (a *authenticator) reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.sec.KeysFile != "" {
		fi, err := os.Stat(a.sec.KeysFile)
		if err != nil {
			fi = nil
		}
		a.fileSeen.Store(&fileState{fi})
	}
	var errs []error
	var keys []keyEntry
	if a.apiKey {
		var err error
		if keys, err = loadKeys(a.sec, a.getenv); err != nil {
			errs = append(errs, err)
		}
	}
	var m *jwtMaterial
	if a.jwt != nil {
		var err error
		if m, err = a.jwt.loadMaterial(a.getenv); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.keys.Store(&keys)
	if a.jwt != nil {
		a.jwt.setMaterial(m)
	}
	return nil
}

// keyCount returns how many API keys are in use.
func (a *authenticator) keyCount() int {
	if k := a.keys.Load(); k != nil {
		return len(*k)
	}
	return 0
}

// loadKeys loads the spec's keys and the keys file's. An id in both is an
// error: which of the two entries meant what would be a guess.
func loadKeys(sec Security, getenv func(string) string) ([]keyEntry, error) {
	var errs []error
	var out []keyEntry
	ids := map[string]bool{}
	for _, k := range sec.Keys {
		ids[k.ID] = true
		e, err := loadKey(k, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	if sec.KeysFile != "" {
		entries, err := keyfile.Read(sec.KeysFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys file: %w", err))
		}
		for _, fe := range entries {
			if ids[fe.ID] {
				errs = append(errs, fmt.Errorf("%s:%d: key %q is also defined in the spec; give one of them another id", sec.KeysFile, fe.Line, fe.ID))
				continue
			}
			ids[fe.ID] = true
			e, err := loadKey(Key{ID: fe.ID, SHA256: fe.SHA256, Role: fe.Role, Pipelines: fe.Pipelines, Expires: fe.Expires}, getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", sec.KeysFile, fe.Line, err))
				continue
			}
			out = append(out, e)
		}
	} else if len(sec.Keys) == 0 {
		errs = append(errs, errors.New("API keys are enabled but no key is defined"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func loadKey(k Key, getenv func(string) string) (keyEntry, error) {
	e := keyEntry{
		principal: Principal{ID: k.ID, Method: "api_key", Roles: []string{k.Role}, Pipelines: append([]string(nil), k.Pipelines...)},
		expires:   k.Expires,
	}
	for _, p := range k.Pipelines {
		if err := pattern.Valid(p); err != nil {
			return e, fmt.Errorf("key %q: %w", k.ID, err)
		}
	}
	switch {
	case k.Env != "" && k.SHA256 != "":
		return e, fmt.Errorf("key %q has both env and sha256", k.ID)
	case k.Env != "":
		v := getenv(k.Env)
		switch {
		case v == "":
			return e, fmt.Errorf("key %q: environment variable %s is unset or empty; set it to a key of at least %d characters (`taskwire keygen` makes one)", k.ID, k.Env, MinKeyLength)
		case len(v) < MinKeyLength:
			return e, fmt.Errorf("key %q: the key in %s is %d characters; a key needs at least %d (`taskwire keygen` makes one)", k.ID, k.Env, len(v), MinKeyLength)
		case len(v) > maxCredentialLength:
			return e, fmt.Errorf("key %q: the key in %s is longer than %d characters", k.ID, k.Env, maxCredentialLength)
		case strings.TrimSpace(v) != v:
			return e, fmt.Errorf("key %q: the key in %s starts or ends with white space", k.ID, k.Env)
		}
		e.hash = sha256.Sum256([]byte(v))
	case k.SHA256 != "":
		n, err := decodeHex(e.hash[:], k.SHA256)
		if err != nil || n != sha256.Size {
			return e, fmt.Errorf("key %q: sha256 must be 64 hexadecimal digits", k.ID)
		}
	default:
		return e, fmt.Errorf("key %q needs env or sha256", k.ID)
	}
	return e, nil
}

func decodeHex(dst []byte, s string) (int, error) {
	if len(s) != 2*len(dst) {
		return 0, errors.New("bad length")
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return 0, errors.New("not hexadecimal")
		}
		dst[i] = hi<<4 | lo
	}
	return len(dst), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// challenges are the WWW-Authenticate values of a 401.
func (a *authenticator) challenges() []string {
	var out []string
	if a.apiKey {
		out = append(out, fmt.Sprintf(`ApiKey header=%q`, a.header))
	}
	if a.jwt != nil {
		out = append(out, `Bearer realm="taskwire"`)
	}
	return out
}

// authenticate returns the principal named by the request's credentials.
// Keys are accepted only in the configured header, tokens only in
// Authorization; when both are sent they must name the same principal.
func (a *authenticator) authenticate(r *http.Request) (*Principal, error) {
	return a.check(r, false)
}

// authenticateCheap is authenticate for a throttled address: bearer tokens
// are accepted only from the cache of tokens verified before, and never
// verified here.
func (a *authenticator) authenticateCheap(r *http.Request) (*Principal, error) {
	return a.check(r, true)
}

func (a *authenticator) check(r *http.Request, cheap bool) (*Principal, error) {
	var keyP, tokenP *Principal
	if a.apiKey {
		values := r.Header[a.canonical]
		switch {
		case len(values) > 1:
			return nil, errSeveralKeys
		case len(values) == 1:
			p, err := a.checkKey(values[0])
			if err != nil {
				return nil, err
			}
			keyP = p
		}
	}
	if a.jwt != nil {
		p, err := a.jwt.fromRequest(r, cheap)
		if err != nil {
			return nil, err
		}
		tokenP = p
	}
	switch {
	case keyP != nil && tokenP != nil:
		if keyP.ID != tokenP.ID {
			return nil, errConflictingIdentity
		}
		return keyP, nil
	case keyP != nil:
		return keyP, nil
	case tokenP != nil:
		return tokenP, nil
	}
	return nil, errNoCredentials
}

// checkKey finds the key whose hash matches. Every stored hash is compared
// in constant time, so timing reveals neither which key matched nor how much
// of a hash did.
func (a *authenticator) checkKey(v string) (*Principal, error) {
	// Only HTTP's optional white space (RFC 9110 OWS: space and tab) is
	// trimmed; strings.TrimSpace would also accept Unicode spaces around a key.
	v = strings.Trim(v, " \t")
	if v == "" || len(v) > maxCredentialLength {
		return nil, errBadKey
	}
	var buf [maxCredentialLength]byte // the key, hashed without a copy on the heap
	sum := sha256.Sum256(buf[:copy(buf[:], v)])
	keys := *a.keys.Load()
	found := -1
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, errBadKey
	}
	k := &keys[found]
	if !k.expires.IsZero() && !a.now().Before(k.expires) {
		return nil, errExpiredKey
	}
	p := k.principal
	return &p, nil
}
