// SPDX-License-Identifier: Apache-2.0

// Package securedemo is the Go wiring generated from specs/secure_demo.yaml:
// typed tasks, the secure_demo_pipeline and its HTTP server. Every
// taskwire_*_gen file is generated; regenerate them with `go generate`.
package securedemo

//go:generate go run github.com/taskwire/taskwire/cmd/taskwire generate --out . ../../../specs/secure_demo.yaml
