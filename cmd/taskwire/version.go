// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/taskwire/taskwire/generator/model"
)

// Release builds set these with
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<git sha> -X main.date=<RFC 3339 time>"
//
// (see .goreleaser.yaml). A value left empty comes from the binary's build
// information instead: the module version when installed with
// `go install ...@v1.2.3`, the VCS revision and commit time when built from
// a checkout.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildStamp is what `taskwire version` reports.
type buildStamp struct {
	Version  string // "v1.2.3", a pseudo-version, or "(devel)"
	Commit   string // full revision, or "unknown"
	Date     string // RFC 3339 time of the build (release) or commit (checkout), or "unknown"
	Modified bool   // built from a checkout with uncommitted changes
}

// stamp merges the -ldflags values with the build information bi (nil when
// the binary has none); a value set with -ldflags wins.
func stamp(version, commit, date string, bi *debug.BuildInfo) buildStamp {
	s := buildStamp{Version: version, Commit: commit, Date: date}
	if bi != nil {
		if s.Version == "" && bi.Main.Version != "" {
			s.Version = bi.Main.Version
		}
		vcsCommit := s.Commit == ""
		for _, kv := range bi.Settings {
			switch {
			case kv.Key == "vcs.revision" && vcsCommit:
				s.Commit = kv.Value
			case kv.Key == "vcs.time" && s.Date == "":
				s.Date = kv.Value
			case kv.Key == "vcs.modified" && vcsCommit:
				s.Modified = kv.Value == "true"
			}
		}
	}
	if s.Version == "" {
		s.Version = "(devel)"
	}
	if s.Commit == "" {
		s.Commit = "unknown"
	}
	if s.Date == "" {
		s.Date = "unknown"
	}
	return s
}

func currentStamp() buildStamp {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return stamp(version, commit, date, bi)
}

func runVersion(e *env, args []string) int {
	if len(args) > 0 {
		return usageError(e, "version", "unexpected argument %q", args[0])
	}
	s := currentStamp()
	fmt.Fprintf(e.stdout, "taskwire %s (spec format %d)\n", s.Version, model.FormatVersion)
	modified := ""
	if s.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(e.stdout, "commit: %s%s\n", s.Commit, modified)
	fmt.Fprintf(e.stdout, "date:   %s\n", s.Date)
	fmt.Fprintf(e.stdout, "go:     %s %s/%s\n", goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	return exitOK
}
