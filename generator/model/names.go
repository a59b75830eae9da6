// SPDX-License-Identifier: Apache-2.0

package model

import (
	"go/token"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

var (
	snakeRE    = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	typeNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	packageRE  = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	envRE      = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// commonInitialisms are written in capitals in Go names, as golint does.
var commonInitialisms = map[string]bool{
	"acl": true, "api": true, "ascii": true, "cpu": true, "css": true, "dns": true, "eof": true,
	"guid": true, "html": true, "http": true, "https": true, "id": true, "ip": true, "json": true,
	"jwt": true, "lhs": true, "qps": true, "ram": true, "rhs": true, "rpc": true, "sla": true,
	"smtp": true, "sql": true, "ssh": true, "tcp": true, "tls": true, "ttl": true, "udp": true,
	"ui": true, "uid": true, "uri": true, "url": true, "utf8": true, "uuid": true, "xml": true,
	"xmpp": true, "xsrf": true, "xss": true, "etl": true,
}

// GoName turns a snake_case name into an exported Go identifier
// (process_data -> ProcessData, user_id -> UserID).
func GoName(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part == "" {
			continue
		}
		if commonInitialisms[part] {
			b.WriteString(strings.ToUpper(part))
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

// goParam turns a snake_case name into an unexported Go identifier that is
// not a keyword or a predeclared name (type -> type_, user_id -> userID).
func goParam(snake string) string {
	name := GoName(snake)
	if name == "" {
		return "v"
	}
	// Lower the leading word: a leading initialism is lowered whole (IDs -> ids).
	r := []rune(name)
	i := 0
	for i < len(r) && unicode.IsUpper(r[i]) {
		i++
	}
	switch {
	case i > 1 && i < len(r):
		i-- // "HTTPServer": keep the S of Server upper
	case i == 0:
		i = 1
	}
	for j := 0; j < i; j++ {
		r[j] = unicode.ToLower(r[j])
	}
	p := string(r)
	if token.IsKeyword(p) || predeclared[p] || p == "ctx" {
		p += "_"
	}
	return p
}

var predeclared = map[string]bool{
	"any": true, "bool": true, "byte": true, "comparable": true, "complex64": true, "complex128": true,
	"error": true, "float32": true, "float64": true, "int": true, "int8": true, "int16": true,
	"int32": true, "int64": true, "rune": true, "string": true, "uint": true, "uint8": true,
	"uint16": true, "uint32": true, "uint64": true, "uintptr": true, "true": true, "false": true,
	"iota": true, "nil": true, "append": true, "cap": true, "clear": true, "close": true,
	"complex": true, "copy": true, "delete": true, "imag": true, "len": true, "make": true,
	"max": true, "min": true, "new": true, "panic": true, "print": true, "println": true,
	"real": true, "recover": true,
}

// enumConstName turns an enum value into the suffix of its Go constant:
// the value split into words at every character that is not an ASCII letter
// or digit, each word capitalised, or written in capitals when it is a
// common initialism ("in-progress" -> InProgress, "ok" -> Ok, "html" ->
// HTML, "user_id" -> UserID, "2xx" -> V2xx).
func enumConstName(v string) string {
	var b strings.Builder
	word := func(w string) {
		if w == "" {
			return
		}
		if commonInitialisms[strings.ToLower(w)] {
			b.WriteString(strings.ToUpper(w))
			return
		}
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	start := -1
	for i, r := range v {
		alnum := r <= unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))
		switch {
		case alnum && start < 0:
			start = i
		case !alnum && start >= 0:
			word(v[start:i])
			start = -1
		}
	}
	if start >= 0 {
		word(v[start:])
	}
	s := b.String()
	if s == "" {
		return "Empty"
	}
	if unicode.IsDigit(rune(s[0])) {
		s = "V" + s
	}
	return s
}

// reservedGoNames are the top-level names the generated packages define for
// themselves, the service's and its client's (generator/goclient, which
// also declares the spec's types); named types and pipeline-derived names
// must not take them.
var reservedGoNames = []string{
	"Tasks", "Register", "NewServer", "Service", "Server", "Options", "Option", "Pipelines",
	"Runtime", "Spec", "OpenAPI", "Handler", "NewHandler", "Engine", "NewEngine", "ServiceName", "UnimplementedTasks",
	// The client package's names that CONTRACT.md fixes; its other names
	// give way to the spec's (generator/goclient).
	"Client", "New", "Error", "WithAPIKey", "WithBearerToken", "WithHTTPClient", "WithIdempotencyKey",
}

// ReservedGoNames returns the top-level Go names the generated packages
// declare for themselves, which no name derived from a spec may take.
func ReservedGoNames() []string { return slices.Clone(reservedGoNames) }
