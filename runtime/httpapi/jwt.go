// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime/pattern"
	"github.com/taskwire/taskwire/runtime/schema"
)

// Bounds of bearer tokens.
const (
	MaxTokenBytes   = 8 << 10
	MinSecretBytes  = 32
	MaxLeeway       = 5 * time.Minute
	maxClaimEntries = 256
)

// supportedAlgorithms are the algorithms a JWT configuration may allow. A
// prefix check alone would accept names such as "HS1" that no signing
// method implements (every token then fails, with a misleading error).
var supportedAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// jwtVerifier checks bearer tokens with the allowed algorithms only.
type jwtVerifier struct {
	cfg       JWT
	algs      []string // allowed
	issuers   []string // allowed iss values; none: iss is not checked
	audiences []string // a token's aud must name one; none: aud is not checked
	parser    *jwt.Parser
	now       func() time.Time
	material  atomic.Pointer[jwtMaterial] // secrets or public key, reloadable
	remote    map[string]*remoteKeys      // JWK Sets: by issuer with discovery, at "" with a jwks_url
	verified  tokenCache                  // tokens verified before, for throttled addresses
}

// jwtMaterial is what a static configuration verifies with: the HMAC
// secrets (the current one first, then the previous one during a
// rotation), or the one public key.
type jwtMaterial struct {
	keys []any
}

// union returns one followed by list, without empty strings or repeats.
func union(one string, list []string) []string {
	var out []string
	for _, s := range append([]string{one}, list...) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func newJWTVerifier(cfg *JWT, now func() time.Time, jo JWKSOptions, log *slog.Logger) (*jwtVerifier, error) {
	if cfg == nil {
		return nil, errors.New("JWT is enabled but not configured")
	}
	v := &jwtVerifier{cfg: *cfg, now: now}
	if v.cfg.RoleClaim == "" {
		v.cfg.RoleClaim = "role"
	}
	if v.cfg.PipelinesClaim == "" {
		v.cfg.PipelinesClaim = "pipelines"
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("jwt leeway must be between 0 and %s", MaxLeeway)
	}
	v.algs = union(cfg.Algorithm, cfg.Algorithms)
	if len(v.algs) == 0 {
		if cfg.SecretEnv != "" || cfg.PublicKeyFile != "" {
			return nil, errors.New("jwt needs an algorithm")
		}
		v.algs = []string{"RS256"} // what OpenID providers sign with by default
	}
	for _, alg := range v.algs {
		if !slices.Contains(supportedAlgorithms, alg) {
			return nil, fmt.Errorf("jwt algorithm %q is not supported; use one of %s", alg, strings.Join(supportedAlgorithms, ", "))
		}
	}
	sources := 0
	for _, set := range []bool{cfg.SecretEnv != "", cfg.PublicKeyFile != "", cfg.JWKSURL != "", cfg.Discovery} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("jwt needs exactly one of secret_env, public_key_file, jwks_url and discovery")
	}
	if cfg.PreviousSecretEnv != "" && cfg.SecretEnv == "" {
		return nil, errors.New("jwt previous_secret_env needs secret_env")
	}
	for _, alg := range v.algs {
		hmac := strings.HasPrefix(alg, "HS")
		switch {
		case hmac && cfg.SecretEnv == "":
			return nil, fmt.Errorf("jwt algorithm %s needs secret_env", alg)
		case !hmac && cfg.SecretEnv != "":
			return nil, fmt.Errorf("jwt algorithm %s verifies with a public key, not secret_env", alg)
		}
	}
	v.issuers = union(cfg.Issuer, cfg.Issuers)
	v.audiences = union(cfg.Audience, cfg.Audiences)
	jo = jo.withDefaults()
	newRemote := func(issuer, url string) *remoteKeys {
		return &remoteKeys{issuer: issuer, url: url, opts: jo, now: now, log: log, onChange: v.verified.clear}
	}
	switch {
	case cfg.JWKSURL != "":
		if err := checkFetchURL("jwks_url", cfg.JWKSURL); err != nil {
			return nil, err
		}
		v.remote = map[string]*remoteKeys{"": newRemote("", cfg.JWKSURL)}
	case cfg.Discovery:
		if len(v.issuers) == 0 {
			return nil, errors.New("jwt discovery needs the issuer whose OpenID configuration names the keys")
		}
		v.remote = map[string]*remoteKeys{}
		for _, iss := range v.issuers {
			if err := checkFetchURL("issuer", iss); err != nil {
				return nil, err
			}
			v.remote[iss] = newRemote(iss, "")
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithIssuedAt(),
	}
	if len(v.audiences) > 0 {
		opts = append(opts, jwt.WithAudience(v.audiences...))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// loadMaterial reads the secrets or the public key the configuration names.
func (v *jwtVerifier) loadMaterial(getenv func(string) string) (*jwtMaterial, error) {
	cfg := &v.cfg
	switch {
	case cfg.SecretEnv != "":
		secret := getenv(cfg.SecretEnv)
		if len(secret) < MinSecretBytes {
			return nil, fmt.Errorf("jwt secret in %s is %d bytes; HMAC secrets need at least %d (set it to a long random value)", cfg.SecretEnv, len(secret), MinSecretBytes)
		}
		m := &jwtMaterial{keys: []any{[]byte(secret)}}
		if cfg.PreviousSecretEnv != "" {
			// An unset or empty variable is a closed rotation window.
			if prev := getenv(cfg.PreviousSecretEnv); prev != "" && prev != secret {
				if len(prev) < MinSecretBytes {
					return nil, fmt.Errorf("jwt previous secret in %s is %d bytes; HMAC secrets need at least %d (or unset it to end the rotation)", cfg.PreviousSecretEnv, len(prev), MinSecretBytes)
				}
				m.keys = append(m.keys, []byte(prev))
			}
		}
		return m, nil
	case cfg.PublicKeyFile != "":
		pem, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		key, err := parsePublicKeyPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("jwt public key %s: %w", cfg.PublicKeyFile, err)
		}
		for _, alg := range v.algs {
			if !keyFits(key, alg) {
				return nil, fmt.Errorf("jwt public key %s does not fit algorithm %s", cfg.PublicKeyFile, alg)
			}
		}
		return &jwtMaterial{keys: []any{key}}, nil
	}
	return nil, nil // keys come from JWK Sets
}

// setMaterial puts new secrets or a new public key in place. Tokens
// verified with the old ones must be verified again.
func (v *jwtVerifier) setMaterial(m *jwtMaterial) {
	if m != nil {
		v.material.Store(m)
	}
	v.verified.clear()
}

// parsePublicKeyPEM reads an RSA, ECDSA or Ed25519 public key.
func parsePublicKeyPEM(pem []byte) (crypto.PublicKey, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	k, err := jwt.ParseEdPublicKeyFromPEM(pem)
	if err != nil {
		return nil, errors.New("not a PEM RSA, ECDSA or Ed25519 public key")
	}
	return k, nil
}

// keyFits reports whether key can verify signatures of alg.
func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]int{"ES256": 256, "ES384": 384, "ES512": 521}[alg]
		return want != 0 && k.Curve.Params().BitSize == want
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// keyFunc returns what a token is verified with: the static secrets or
// public key, or the key its kid names in the JWK Set of its issuer
// (fetched, within limits, when the cache lacks it).
func (v *jwtVerifier) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if v.remote != nil {
			return v.remoteKey(ctx, t)
		}
		m := v.material.Load()
		if m == nil || len(m.keys) == 0 {
			return nil, errors.New("no verification key")
		}
		if len(m.keys) == 1 {
			return m.keys[0], nil
		}
		ks := jwt.VerificationKeySet{}
		for _, k := range m.keys {
			ks.Keys = append(ks.Keys, k)
		}
		return ks, nil
	}
}

func (v *jwtVerifier) remoteKey(ctx context.Context, t *jwt.Token) (any, error) {
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, isStr := raw.(string)
		if !isStr {
			return nil, errBadKeyIDHeader
		}
		kid = s
	}
	rk := v.remote[""]
	if rk == nil { // discovery: the issuer's keys
		iss, _ := t.Claims.(jwt.MapClaims)["iss"].(string)
		if rk = v.remote[iss]; rk == nil {
			return nil, errIssuerNotListed
		}
	}
	k, err := rk.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	if k.alg != "" && k.alg != t.Method.Alg() {
		return nil, errKeyAlgMismatch
	}
	return k.key, nil
}

// start fetches the JWK Sets now and refreshes them on their schedule
// until ctx ends.
func (v *jwtVerifier) start(ctx context.Context) {
	for _, rk := range v.remote {
		go rk.run(ctx)
	}
}

// refreshRemote fetches the JWK Sets again, in the background.
func (v *jwtVerifier) refreshRemote(ctx context.Context) {
	for _, rk := range v.remote {
		go rk.refresh(ctx)
	}
}

// errBadToken wraps every token failure; its text is safe to send.
var (
	errBadToken     = errors.New("invalid bearer token")
	errExpiredToken = fmt.Errorf("%w: expired", errBadToken)
)

// errNotVerifiedBefore refuses, at a throttled address, a token the cache
// of verified tokens does not hold.
var errNotVerifiedBefore = fmt.Errorf("%w: not verified before", errBadToken)

// fromRequest returns the token's principal, or nil when the request has no
// bearer token. With cheap set, only a token found in the cache of
// verified tokens is accepted, and nothing is verified.
func (v *jwtVerifier) fromRequest(r *http.Request, cheap bool) (*Principal, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, nil
	}
	if len(values) > 1 {
		return nil, fmt.Errorf("%w: send one Authorization header", errBadToken)
	}
	token, ok := bearerToken(values[0])
	if !ok {
		return nil, fmt.Errorf("%w: use the Bearer scheme", errBadToken)
	}
	if cheap {
		if p := v.verified.get(token, v.now()); p != nil {
			return p, nil
		}
		return nil, errNotVerifiedBefore
	}
	return v.verify(r.Context(), token)
}

// bearerToken extracts the token of an Authorization: Bearer header.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// verify checks a token's signature (with the pinned algorithm only), its
// exp (required), nbf, iat, issuer and audience, and reads its subject,
// roles and pipeline patterns.
func (v *jwtVerifier) verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", errBadToken, MaxTokenBytes)
	}
	if err := strictToken(token); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadToken, err)
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, v.keyFunc(ctx))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errExpiredToken
		}
		return nil, fmt.Errorf("%w: %s", errBadToken, tokenProblem(err))
	}
	if len(v.issuers) > 0 {
		iss, _ := claims["iss"].(string)
		switch {
		case iss == "":
			return nil, fmt.Errorf("%w: a required claim is missing (iss)", errBadToken)
		case !slices.Contains(v.issuers, iss):
			return nil, fmt.Errorf("%w: wrong issuer", errBadToken)
		}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" || len(sub) > 256 {
		return nil, fmt.Errorf("%w: no subject (sub)", errBadToken)
	}
	roles, err := stringsClaim(claims[v.cfg.RoleClaim])
	if err != nil {
		return nil, fmt.Errorf("%w: claim %s: %v", errBadToken, v.cfg.RoleClaim, err)
	}
	pipelines, err := stringsClaim(claims[v.cfg.PipelinesClaim])
	if err != nil {
		return nil, fmt.Errorf("%w: claim %s: %v", errBadToken, v.cfg.PipelinesClaim, err)
	}
	for _, p := range pipelines {
		if pattern.Valid(p) != nil {
			return nil, fmt.Errorf("%w: claim %s holds an invalid pipeline pattern", errBadToken, v.cfg.PipelinesClaim)
		}
	}
	iss, _ := claims["iss"].(string)
	p := &Principal{ID: sub, Method: "jwt", Issuer: iss, Roles: roles, Pipelines: pipelines}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		v.verified.put(token, p, exp.Add(v.cfg.Leeway), v.now())
	}
	return p, nil
}

// anyJSON accepts any JSON value without duplicate keys at any depth.
var anyJSON = &schema.Schema{Kind: schema.Any}

// strictToken checks what the JWT library leaves alone. The header and the
// claims must each be JSON without duplicate keys at any depth: a
// duplicate is last-wins in encoding/json and first-wins in other parsers,
// so a gateway in front could read different claims than this server (RFC
// 7519 section 4 lets a recipient reject them, RFC 7515 section 5.2 too).
// The header must not carry crit: RFC 7515 section 4.1.11 requires
// refusing a token whose critical extensions the recipient does not
// implement, and this server implements none.
func strictToken(token string) error {
	head, rest, ok := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return errors.New("malformed")
	}
	for i, seg := range [2]string{head, payload} {
		what := [2]string{"header", "claims"}[i]
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return errors.New("malformed")
		}
		if err := schema.Validate(b, anyJSON); err != nil {
			var se *schema.Error
			if errors.As(err, &se) && len(se.Errors) > 0 && se.Errors[0].Message == "duplicate key" {
				return fmt.Errorf("duplicate key in the %s", what)
			}
			return errors.New("malformed")
		}
		if i == 0 {
			var h map[string]json.RawMessage
			if json.Unmarshal(b, &h) != nil {
				return errors.New("malformed")
			}
			if _, ok := h["crit"]; ok {
				return errors.New("critical header extensions (crit) are not supported")
			}
		}
	}
	return nil
}

// stringsClaim reads a claim that is a string or a list of strings; an
// absent claim is an empty list.
func stringsClaim(c any) ([]string, error) {
	switch t := c.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []any:
		if len(t) > maxClaimEntries {
			return nil, fmt.Errorf("more than %d entries", maxClaimEntries)
		}
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("must be a string or a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("must be a string or a list of strings")
}

// tokenProblem names what is wrong with a token in words safe to send back.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.As(err, new(jwksError)):
		var je jwksError
		errors.As(err, &je)
		return string(je)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The library names the claim ("iss claim is required"); the
		// configuration makes exp, and iss and aud when set, required.
		for _, c := range []string{"exp", "iss", "aud"} {
			if strings.Contains(err.Error(), c+" claim is required") {
				return "a required claim is missing (" + c + ")"
			}
		}
		return "a required claim is missing"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "rejected"
}
