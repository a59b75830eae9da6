// SPDX-License-Identifier: Apache-2.0

package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/httpapi"
)

// runToken serves `taskwire token`: an HMAC development token signed with
// the secret in an environment variable. With --spec, the spec's jwt
// section gives the variable, the algorithm, the issuer, the audience and
// the claim names; flags given explicitly still win.
func runToken(e *env, args []string) int {
	fs := newFlags(e, "token")
	specFile := fs.String("spec", "", "read the secret variable, algorithm, issuer, audience and claim names from this spec's security.jwt")
	secretEnv := fs.String("secret-env", "TASKWIRE_JWT_SECRET", "environment variable holding the HMAC secret (32 bytes or more)")
	sub := fs.String("sub", "", "the subject: who the token names (required)")
	role := fs.String("role", "", "role(s), comma-separated")
	pipelines := fs.String("pipelines", "", "pipeline patterns, comma-separated (for example \"*\" or \"report_*\")")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	issuer := fs.String("issuer", "", "iss claim (must match the spec's jwt.issuer when set)")
	audience := fs.String("audience", "", "aud claim (must match the spec's jwt.audience when set)")
	roleClaim := fs.String("role-claim", "role", "name of the role claim")
	pipelinesClaim := fs.String("pipelines-claim", "pipelines", "name of the pipelines claim")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return usageError(e, "token", "unexpected argument %q", rest[0])
	}
	if *sub == "" {
		return usageError(e, "token", "--sub is required")
	}
	if *ttl <= 0 || *ttl > 30*24*time.Hour {
		return usageError(e, "token", "--ttl must be between 1s and 720h")
	}
	method := jwt.SigningMethod(jwt.SigningMethodHS256)
	if *specFile != "" {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		m, code := loadModel(e, "token", *specFile)
		if m == nil {
			return code
		}
		j := m.Security.JWT
		if j == nil {
			fmt.Fprintf(e.stderr, "taskwire token: %s has no security.jwt section; add one with secret_env, or drop --spec\n", *specFile)
			return exitUsage
		}
		if j.SecretEnv == "" {
			fmt.Fprintf(e.stderr, "taskwire token: %s verifies tokens with public keys (%s); get tokens from the identity provider, taskwire token signs development tokens with an HMAC secret only\n", *specFile, keySource(j))
			return exitUsage
		}
		method = jwt.GetSigningMethod(j.Algorithms[0])
		set := func(name string, dst *string, v string) {
			if !given[name] && v != "" {
				*dst = v
			}
		}
		set("secret-env", secretEnv, j.SecretEnv)
		if len(j.Issuers) > 0 {
			set("issuer", issuer, j.Issuers[0])
		}
		if len(j.Audiences) > 0 {
			set("audience", audience, j.Audiences[0])
		}
		set("role-claim", roleClaim, j.RoleClaim)
		set("pipelines-claim", pipelinesClaim, j.PipelinesClaim)
	}
	secret := e.getenv(*secretEnv)
	if len(secret) < httpapi.MinSecretBytes {
		fmt.Fprintf(e.stderr, "taskwire token: %s must hold a secret of at least %d bytes\n", *secretEnv, httpapi.MinSecretBytes)
		return exitUsage
	}
	now := time.Now()
	claims := jwt.MapClaims{"sub": *sub, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(*ttl).Unix()}
	if *issuer != "" {
		claims["iss"] = *issuer
	}
	if *audience != "" {
		claims["aud"] = *audience
	}
	if *role != "" {
		claims[*roleClaim] = splitList(*role)
	}
	if *pipelines != "" {
		claims[*pipelinesClaim] = splitList(*pipelines)
	}
	signed, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire token: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(e.stdout, signed)
	return exitOK
}

// keySource names where a JWT configuration takes public keys from.
func keySource(j *model.JWT) string {
	switch {
	case j.JWKSURL != "":
		return "jwks_url " + j.JWKSURL
	case j.Discovery:
		return "discovery from " + strings.Join(j.Issuers, ", ")
	}
	return "public_key_file " + j.PublicKeyFile
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
