// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	rtdebug "runtime/debug"
	"slices"
	"strings"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/templates"
)

// taskwireModule is the module path of taskwire, which a scaffold requires.
const taskwireModule = "github.com/taskwire/taskwire"

// scaffoldGoVersion is the go directive of a scaffold's go.mod: the Go
// version taskwire itself needs.
const scaffoldGoVersion = "1.26.0"

// develVersion is the version a scaffold requires when this taskwire is not
// a release: the conventional placeholder that a replace directive resolves.
const develVersion = "v0.0.0-00010101000000-000000000000"

// runInit serves `taskwire init [--module PATH] DIR`: it writes a new
// service into DIR (see templates/init) and runs the generator on its spec,
// so that it builds at once. It never overwrites a file: when any file it
// would write exists, it writes nothing and exits 2 naming them.
func runInit(e *env, args []string) int {
	flags := newFlags(e, "init")
	module := flags.String("module", "", "module path of the new service (default: DIR's base name)")
	rest, err := parseFlags(flags, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 {
		return usageError(e, "init", "name exactly one directory")
	}
	dir := rest[0]
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire init: %v\n", err)
		return exitUsage
	}
	if *module == "" {
		*module = filepath.Base(abs)
	}
	if err := checkModulePath(*module); err != nil {
		return usageError(e, "init", "%v; name one with --module (for example --module example.com/%s)", err, packageName(*module))
	}
	version, devBuild := scaffoldVersion()
	s := templates.Scaffold{
		Module:          *module,
		Package:         packageName(*module),
		Binary:          binaryName(*module),
		GoVersion:       scaffoldGoVersion,
		TaskwireVersion: version,
		DevBuild:        devBuild,
	}
	s.EnvVar = strings.ToUpper(s.Package) + "_API_KEY"

	files, code := scaffoldFiles(e, dir, s)
	if files == nil {
		return code
	}
	var existing []string
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path))); err == nil {
			existing = append(existing, filepath.Join(dir, filepath.FromSlash(f.Path)))
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(e.stderr, "taskwire init: %v\n", err)
			return exitUsage
		}
	}
	if len(existing) > 0 {
		fmt.Fprintf(e.stderr, "taskwire init: %d of the files init writes already exist; it never overwrites a file, so it wrote nothing:\n", len(existing))
		for _, p := range existing {
			fmt.Fprintf(e.stderr, "  %s\n", p)
		}
		fmt.Fprintln(e.stderr, "Move them aside, or scaffold into a new directory.")
		return exitUsage
	}
	for _, f := range files {
		if err := createFile(filepath.Join(dir, filepath.FromSlash(f.Path)), f.Content); err != nil {
			fmt.Fprintf(e.stderr, "taskwire init: %v\n", err)
			return exitUsage
		}
	}
	printNextSteps(e, dir, s, files)
	return exitOK
}

// scaffoldFiles renders the templates and generates the code of the
// scaffold's spec, exactly as `taskwire generate` would, so that the
// scaffold needs no `go generate` to build. Paths are slash-separated and
// relative to the scaffold's root, in the order they are written.
func scaffoldFiles(e *env, dir string, s templates.Scaffold) ([]templates.File, int) {
	files, err := templates.InitFiles(s)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire init: %v\n", err)
		return nil, exitUsage
	}
	specPath := path.Join(s.Package, "taskwire.yaml")
	i := slices.IndexFunc(files, func(f templates.File) bool { return f.Path == specPath })
	if i < 0 {
		fmt.Fprintf(e.stderr, "taskwire init: the templates have no %s\n", specPath)
		return nil, exitUsage
	}
	// The spec is checked before anything is written; a failure here is a
	// bug of the templates, not of the user's input.
	m, ds := model.Load(filepath.Join(dir, filepath.FromSlash(specPath)), files[i].Content)
	if m == nil {
		_ = diag.WriteText(e.stderr, ds)
		fmt.Fprintf(e.stderr, "taskwire init: the scaffold's spec for package %q is invalid; please report this\n", s.Package)
		return nil, exitUsage
	}
	gen, err := generator.Generate(m, backends...)
	if err != nil {
		fmt.Fprintf(e.stderr, "taskwire init: %v\n", err)
		return nil, exitUsage
	}
	for _, f := range gen {
		files = append(files, templates.File{Path: path.Join(s.Package, f.Name), Content: f.Content})
	}
	return files, exitOK
}

// createFile writes a new file, creating its directory; it fails rather than
// replace a file that appeared since the existence check.
func createFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printNextSteps(e *env, dir string, s templates.Scaffold, files []templates.File) {
	w := e.stdout
	fmt.Fprintf(w, "Created %s: module %s, package %s.\n", dir, s.Module, s.Package)
	for _, f := range files {
		fmt.Fprintf(w, "  %s\n", filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	fmt.Fprintf(w, "\nNext steps:\n  cd %s\n", dir)
	if s.DevBuild {
		root := "/path/to/taskwire"
		if r, ok := findCheckout(); ok {
			root = r
		}
		fmt.Fprintf(w, "  go mod edit -replace %s=%s   # this taskwire is a development build, not a release\n", taskwireModule, root)
	}
	fmt.Fprintf(w, "  go mod tidy                     # fetches taskwire, writes go.sum\n")
	fmt.Fprintf(w, "  go test ./...                   # drives the service over HTTP\n")
	fmt.Fprintf(w, "  export %s=$(go tool taskwire keygen 2>/dev/null | sed -n 's/^key: *//p')\n", s.EnvVar)
	fmt.Fprintf(w, "  go run .                        # serves on :8080\n")
	fmt.Fprintf(w, "Then edit %s/taskwire.yaml, run `go generate ./...` and implement the new task methods in %s/tasks.go.\n", s.Package, s.Package)
}

// modulePathRE accepts the module paths the go command does, roughly:
// slash-separated elements of letters, digits and ._~+- .
var modulePathRE = regexp.MustCompile(`^[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*(/[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*)*$`)

func checkModulePath(p string) error {
	if !modulePathRE.MatchString(p) || strings.Contains(p, "..") || strings.HasSuffix(p, ".") {
		return fmt.Errorf("%q is not a module path", p)
	}
	return nil
}

// binaryName is the command's name: the module path's last element, or the
// one before a major version suffix (example.com/hello/v2 -> hello).
func binaryName(module string) string {
	elems := strings.Split(module, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && regexp.MustCompile(`^v[0-9]+$`).MatchString(name) {
		name = elems[len(elems)-2]
	}
	return name
}

// avoidedPackages are names the scaffold's package must not take: main.go
// imports these packages or declares these names, and bin, testdata and
// vendor are directories with a meaning of their own.
var avoidedPackages = []string{
	"main", "context", "flag", "fmt", "slog", "net", "os", "signal", "syscall", "httpapi",
	"run", "logger", "bin", "testdata", "vendor",
}

// packageName derives the Go package of a scaffold from its module path:
// the lowercase letters and digits of the binary name, starting with a
// letter; "service" when none are left, with "svc" appended to a name the
// scaffold cannot use.
func packageName(module string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(binaryName(module)) {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9' && b.Len() > 0) {
			b.WriteRune(c)
		}
	}
	name := b.String()
	switch {
	case name == "":
		return "service"
	case token.IsKeyword(name) || slices.Contains(avoidedPackages, name):
		return name + "svc"
	}
	return name
}

// releaseRE matches a release version (no pseudo-version, no +dirty).
var releaseRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`)
var pseudoRE = regexp.MustCompile(`[0-9]{14}-[0-9a-f]{12}$`)

// scaffoldVersion returns the taskwire version a scaffold requires: this
// binary's own when it is a release (go install ...@v1.2.3), otherwise the
// placeholder that a replace directive resolves, and true.
func scaffoldVersion() (string, bool) {
	if bi, ok := rtdebug.ReadBuildInfo(); ok && bi.Main.Path == taskwireModule {
		if v := bi.Main.Version; releaseRE.MatchString(v) && !pseudoRE.MatchString(v) {
			return v, false
		}
	}
	return develVersion, true
}

// findCheckout returns the root of the taskwire checkout holding the
// working directory, if there is one: where a development build came from.
func findCheckout() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if modulePathOf(filepath.Join(d, "go.mod")) == taskwireModule {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// modulePathOf returns the module path declared by a go.mod file, or "".
func modulePathOf(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
