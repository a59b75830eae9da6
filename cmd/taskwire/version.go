package main

import (
	"fmt"
	"runtime/debug"

	"github.com/taskwire/taskwire/generator/model"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; by
// default it comes from the module's build information.
var version = ""

func currentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func runVersion(e *env, args []string) int {
	if len(args) > 0 {
		return usageError(e, "version", "unexpected argument %q", args[0])
	}
	fmt.Fprintf(e.stdout, "taskwire %s (spec format %d)\n", currentVersion(), model.FormatVersion)
	return exitOK
}
