// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskwire/taskwire/runtime/httpapi"
)

// runToken serves `taskwire token`: an HS256 development token signed with
// the secret in an environment variable.
func runToken(e *env, args []string) int {
	fs := newFlags(e, "token")
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
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire token: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(e.stdout, signed)
	return exitOK
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
