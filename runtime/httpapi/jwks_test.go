// SPDX-License-Identifier: Apache-2.0

package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// provider is an identity provider on an httptest server: an OpenID
// configuration and a JWK Set whose keys a test changes, and counts of
// the requests it got.
type provider struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	keys   map[string]signer // published, by kid
	down   bool
	issuer string // what the configuration says; the server's URL by default

	jwksHits, discoveryHits atomic.Int64
}

// signer is a private key and the algorithm it signs with.
type signer struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	priv   any
	pub    any
}

func newRSASigner(t testing.TB, kid string) signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: "RS256", method: jwt.SigningMethodRS256, priv: k, pub: &k.PublicKey}
}

func newECSigner(t testing.TB, kid string) signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: "ES256", method: jwt.SigningMethodES256, priv: k, pub: &k.PublicKey}
}

func newProvider(t *testing.T, keys ...signer) *provider {
	p := &provider{t: t, keys: map[string]signer{}}
	for _, k := range keys {
		p.keys[k.kid] = k
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveryHits.Add(1)
		p.mu.Lock()
		down, iss := p.down, p.issuer
		p.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if iss == "" {
			iss = p.srv.URL
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "jwks_uri": p.srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256", "ES256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var set jwkset.JWKSMarshal
		for _, k := range p.keys {
			jwk, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}})
			if err != nil {
				t.Error(err)
				return
			}
			set.Keys = append(set.Keys, jwk.Marshal())
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) publish(keys ...signer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = map[string]signer{}
	for _, k := range keys {
		p.keys[k.kid] = k
	}
}

func (p *provider) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// token is a good token of the provider, signed by k, at now.
func (p *provider) token(t testing.TB, k signer, now time.Time, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"sub": "oidc-user", "iss": p.srv.URL, "aud": "taskwire-api", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "role": "admin", "pipelines": []string{"*"}}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(k.method, c)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// oidcSetup is a server verifying the providers' tokens with discovery.
func oidcSetup(jo httpapi.JWKSOptions, issuers ...string) setup {
	return setup{
		svc:  jwtOnly(&httpapi.JWT{Discovery: true, Issuers: issuers, Audiences: []string{"taskwire-api", "other-api"}, Algorithms: []string{"RS256", "ES256"}}),
		opts: []httpapi.Option{httpapi.WithJWKS(jo)},
	}
}

func (f *fixture) tokenStatus(t testing.TB, tok string) (int, string) {
	t.Helper()
	r := f.do(t, req{path: "/pipelines/secure_demo_pipeline", headers: []string{bearer(tok)}})
	if r.Status == http.StatusOK {
		return r.Status, ""
	}
	return r.Status, r.problem(t).Detail
}

func (f *fixture) wantToken(t testing.TB, what, tok string, status int, detail string) {
	t.Helper()
	got, d := f.tokenStatus(t, tok)
	if got != status || !strings.Contains(d, detail) {
		t.Fatalf("%s: %d %q, want %d with %q", what, got, d, status, detail)
	}
}

// A long scheduled refresh: tests move the server's clock instead.
var slowRefresh = httpapi.JWKSOptions{Refresh: time.Hour}

func TestOIDCProviderTokens(t *testing.T) {
	rs, es := newRSASigner(t, "rsa-1"), newECSigner(t, "ec-1")
	p := newProvider(t, rs, es)
	f := newFixture(t, oidcSetup(slowRefresh, p.srv.URL))
	now := f.clock.Now()

	f.wantToken(t, "RS256 token of the provider", p.token(t, rs, now, nil), http.StatusOK, "")
	f.wantToken(t, "ES256 token of the provider", p.token(t, es, now, nil), http.StatusOK, "")
	f.wantToken(t, "the second allowed audience", p.token(t, rs, now, func(c jwt.MapClaims) { c["aud"] = "other-api" }), http.StatusOK, "")
	if p.discoveryHits.Load() < 1 || p.jwksHits.Load() < 1 {
		t.Fatalf("discovery %d, JWK Set %d requests", p.discoveryHits.Load(), p.jwksHits.Load())
	}
	f.wantToken(t, "wrong audience", p.token(t, rs, now, func(c jwt.MapClaims) { c["aud"] = "someone-else" }), http.StatusUnauthorized, "wrong audience")
	f.wantToken(t, "another issuer", p.token(t, rs, now, func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }), http.StatusUnauthorized, "issuer")
	f.wantToken(t, "expired", p.token(t, rs, now, func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }), http.StatusUnauthorized, "expired")
	f.wantToken(t, "no exp", p.token(t, rs, now, func(c jwt.MapClaims) { delete(c, "exp") }), http.StatusUnauthorized, "exp")

	// An algorithm outside the allow-list, with the provider's own key.
	ps := rs
	ps.alg, ps.method = "PS256", jwt.SigningMethodPS256
	f.wantToken(t, "PS256 is not allowed", p.token(t, ps, now, nil), http.StatusUnauthorized, "signature or algorithm")
	// An HS256 token "signed" with the public key's bytes (algorithm confusion).
	hs := signer{kid: "rsa-1", method: jwt.SigningMethodHS256, priv: []byte("public key bytes")}
	f.wantToken(t, "HS256 with a kid of the set", p.token(t, hs, now, nil), http.StatusUnauthorized, "signature or algorithm")
	// The JWK's own alg binds it: an ES256 token under the RSA key's kid.
	f.wantToken(t, "ES256 under an RS256 key's kid", p.token(t, signer{kid: "rsa-1", method: jwt.SigningMethodES256, priv: es.priv}, now, nil), http.StatusUnauthorized, "algorithm")
	f.wantToken(t, "no kid", p.token(t, signer{method: rs.method, priv: rs.priv}, now, nil), http.StatusUnauthorized, "kid")
}

func TestOIDCKeyRotation(t *testing.T) {
	k1, k2 := newRSASigner(t, "key-1"), newRSASigner(t, "key-2")
	p := newProvider(t, k1)
	f := newFixture(t, oidcSetup(httpapi.JWKSOptions{Refresh: 20 * time.Millisecond, MinRefresh: 30 * time.Second}, p.srv.URL))
	now := f.clock.Now()
	tok1, tok2 := p.token(t, k1, now, nil), p.token(t, k2, now, nil)
	f.wantToken(t, "key 1", tok1, http.StatusOK, "")

	// The provider adds key 2 and signs with it: the unknown kid makes the
	// server fetch the set, without a restart.
	p.publish(k1, k2)
	f.clock.Advance(31 * time.Second) // past MinRefresh since the last fetch
	f.wantToken(t, "key 2 after the provider's rotation", tok2, http.StatusOK, "")
	f.wantToken(t, "key 1 still published", tok1, http.StatusOK, "")

	// The provider removes key 1: the next scheduled refresh drops it.
	p.publish(k2)
	eventually(t, "key 1 is refused after a refresh", func() bool {
		st, _ := f.tokenStatus(t, tok1)
		return st == http.StatusUnauthorized
	})
	f.wantToken(t, "removed key", tok1, http.StatusUnauthorized, "unknown key id")
	f.wantToken(t, "key 2 after the removal", tok2, http.StatusOK, "")
}

func TestOIDCProviderDown(t *testing.T) {
	t.Run("warm cache keeps working, until it is too old", func(t *testing.T) {
		k := newRSASigner(t, "key-1")
		p := newProvider(t, k)
		f := newFixture(t, oidcSetup(httpapi.JWKSOptions{Refresh: 10 * time.Millisecond, MaxStale: 24 * time.Hour}, p.srv.URL))
		now := f.clock.Now()
		tok := p.token(t, k, now, func(c jwt.MapClaims) { c["exp"] = now.Add(48 * time.Hour).Unix() })
		f.wantToken(t, "provider up", tok, http.StatusOK, "")
		p.setDown(true)
		hits := p.discoveryHits.Load() + p.jwksHits.Load()
		eventually(t, "a refresh fails", func() bool { return p.discoveryHits.Load()+p.jwksHits.Load() > hits+1 })
		f.wantToken(t, "provider down, warm cache", tok, http.StatusOK, "")
		f.clock.Advance(23 * time.Hour)
		f.wantToken(t, "provider down for 23 h", tok, http.StatusOK, "")
		f.clock.Advance(2 * time.Hour)
		f.wantToken(t, "provider down past MaxStale", tok, http.StatusUnauthorized, "keys are not available")
		p.setDown(false)
		eventually(t, "the provider's keys are back", func() bool {
			st, _ := f.tokenStatus(t, tok)
			return st == http.StatusOK
		})
	})
	t.Run("cold cache fails closed", func(t *testing.T) {
		k := newRSASigner(t, "key-1")
		p := newProvider(t, k)
		p.setDown(true)
		f := newFixture(t, oidcSetup(slowRefresh, p.srv.URL))
		now := f.clock.Now()
		tok := p.token(t, k, now, nil)
		f.wantToken(t, "provider down at start", tok, http.StatusUnauthorized, "keys are not available")
		f.wantToken(t, "and again", tok, http.StatusUnauthorized, "keys are not available")
		p.setDown(false)
		f.wantToken(t, "provider up, but within MinRefresh of the failed fetch", tok, http.StatusUnauthorized, "keys are not available")
		f.clock.Advance(31 * time.Second)
		f.wantToken(t, "provider up, past MinRefresh", tok, http.StatusOK, "")
	})
}

func TestOIDCUnknownKidFlood(t *testing.T) {
	k := newRSASigner(t, "key-1")
	p := newProvider(t, k)
	f := newFixture(t, oidcSetup(slowRefresh, p.srv.URL))
	now := f.clock.Now()
	f.wantToken(t, "a good token first", p.token(t, k, now, nil), http.StatusOK, "")
	base := p.jwksHits.Load()
	f.hc = f.client() // made once, shared by the flood's goroutines
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				forged := signer{kid: fmt.Sprintf("made-up-%d-%d", round, i), method: k.method, priv: k.priv}
				if st, _ := f.tokenStatus(t, p.token(t, forged, now, nil)); st != http.StatusUnauthorized {
					t.Errorf("made-up kid: %d", st)
				}
			}()
		}
		wg.Wait()
	}
	flood(1)
	if got := p.jwksHits.Load() - base; got > 1 {
		t.Fatalf("200 tokens with made-up kids made %d requests to the provider, want at most 1", got)
	}
	f.clock.Advance(31 * time.Second)
	flood(2)
	if got := p.jwksHits.Load() - base; got > 2 {
		t.Fatalf("two floods MinRefresh apart made %d requests to the provider, want at most 2", got)
	}
	f.wantToken(t, "the good token after the floods", p.token(t, k, now, nil), http.StatusOK, "")
}

func TestOIDCSeveralIssuers(t *testing.T) {
	ka, kb := newRSASigner(t, "a-1"), newECSigner(t, "b-1")
	pa, pb := newProvider(t, ka), newProvider(t, kb)
	f := newFixture(t, oidcSetup(slowRefresh, pa.srv.URL, pb.srv.URL))
	now := f.clock.Now()
	f.wantToken(t, "issuer A", pa.token(t, ka, now, nil), http.StatusOK, "")
	f.wantToken(t, "issuer B", pb.token(t, kb, now, nil), http.StatusOK, "")
	// A's key cannot vouch for B's tokens: each issuer's own set decides.
	f.wantToken(t, "A's key, B's issuer", pa.token(t, ka, now, func(c jwt.MapClaims) { c["iss"] = pb.srv.URL }), http.StatusUnauthorized, "unknown key id")
}

func TestOIDCDiscoveryIssuerMismatch(t *testing.T) {
	k := newRSASigner(t, "key-1")
	p := newProvider(t, k)
	p.issuer = "https://somewhere-else.example.com"
	f := newFixture(t, oidcSetup(slowRefresh, p.srv.URL))
	f.wantToken(t, "configuration naming another issuer", p.token(t, k, f.clock.Now(), nil), http.StatusUnauthorized, "keys are not available")
	if p.jwksHits.Load() != 0 {
		t.Fatalf("the JWK Set of a mismatched configuration was fetched")
	}
}

func TestJWKSURL(t *testing.T) {
	k := newECSigner(t, "ec-1")
	p := newProvider(t, k)
	f := newFixture(t, setup{
		svc:  jwtOnly(&httpapi.JWT{JWKSURL: p.srv.URL + "/keys", Issuer: p.srv.URL, Audience: "taskwire-api", Algorithm: "ES256"}),
		opts: []httpapi.Option{httpapi.WithJWKS(slowRefresh)},
	})
	f.wantToken(t, "ES256 token from the JWK Set", p.token(t, k, f.clock.Now(), nil), http.StatusOK, "")
	if p.discoveryHits.Load() != 0 {
		t.Error("jwks_url made a discovery request")
	}
	// RS256 is not in this server's allow-list, even with a key of the set.
	rk := newRSASigner(t, "rsa-1")
	p.publish(k, rk)
	f.clock.Advance(time.Minute)
	f.wantToken(t, "RS256 not allowed", p.token(t, rk, f.clock.Now(), nil), http.StatusUnauthorized, "signature or algorithm")
}

// A throttled address cannot make the server fetch keys.
func TestOIDCThrottledAddressFetchesNothing(t *testing.T) {
	k := newRSASigner(t, "key-1")
	p := newProvider(t, k)
	st := oidcSetup(slowRefresh, p.srv.URL)
	st.opts = append(st.opts, httpapi.WithAuthFailureLimit(httpapi.Rate{N: 2, Per: 1000 * time.Hour}))
	f := newFixture(t, st)
	now := f.clock.Now()
	good := p.token(t, k, now, nil)
	f.wantToken(t, "good token", good, http.StatusOK, "")
	for i := range 2 {
		f.wantToken(t, "made-up kid", p.token(t, signer{kid: fmt.Sprint("x", i), method: k.method, priv: k.priv}, now, nil), http.StatusUnauthorized, "")
		f.clock.Advance(time.Minute)
	}
	hits := p.jwksHits.Load()
	for i := range 50 {
		f.clock.Advance(time.Minute) // past MinRefresh every time
		if got, _ := f.tokenStatus(t, p.token(t, signer{kid: fmt.Sprint("y", i), method: k.method, priv: k.priv}, now, nil)); got != http.StatusTooManyRequests {
			t.Fatalf("made-up kid from the throttled address: %d", got)
		}
	}
	if got := p.jwksHits.Load(); got != hits {
		t.Fatalf("a throttled address made %d fetches", got-hits)
	}
	f.clock.Advance(-52 * time.Minute)
	f.wantToken(t, "the token verified before, from the throttled address", good, http.StatusOK, "")
}

func TestJWKSConfigRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  httpapi.JWT
		want string
	}{
		{"plain http to another host", httpapi.JWT{JWKSURL: "http://idp.example.com/keys"}, "must use https"},
		{"not a URL", httpapi.JWT{JWKSURL: "keys.json"}, "not an absolute"},
		{"discovery without issuer", httpapi.JWT{Discovery: true}, "needs the issuer"},
		{"HMAC with a JWK Set", httpapi.JWT{JWKSURL: "https://idp.example.com/keys", Algorithm: "HS256"}, "secret_env"},
		{"both sources", httpapi.JWT{JWKSURL: "https://idp.example.com/keys", Discovery: true, Issuer: "https://idp.example.com"}, "exactly one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			svc := testService()
			jwtOnly(&cfg)(&svc)
			_, err := httpapi.New(testEngine(t, demoRegistry(t)), svc, httpapi.WithLogger(quietLog))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want %q", err, c.want)
			}
		})
	}
}
