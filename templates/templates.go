// SPDX-License-Identifier: Apache-2.0

// Package templates holds the text/template files that taskwire renders,
// embedded in the binary: the service that `taskwire init` scaffolds.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"
)

//go:embed init
var initFS embed.FS

// Scaffold is what the `taskwire init` templates are rendered with.
type Scaffold struct {
	Module          string // module path of the new service, e.g. example.com/hello
	Package         string // Go package of the spec and its generated code; also its directory
	Binary          string // the command's name: the last element of Module
	EnvVar          string // the environment variable holding the service's API key
	GoVersion       string // the go directive of go.mod
	TaskwireVersion string // the version of github.com/taskwire/taskwire go.mod requires
	DevBuild        bool   // TaskwireVersion is a placeholder: this taskwire is not a release
}

// File is one rendered file: its slash-separated path relative to the new
// service's root, and its content.
type File struct {
	Path    string
	Content []byte
}

// InitFiles renders the scaffold of a new service, in path order. Template
// paths map to file paths by dropping the .tmpl suffix, turning the pkg/
// directory into s.Package and gitignore into .gitignore.
func InitFiles(s Scaffold) ([]File, error) {
	var files []File
	err := fs.WalkDir(initFS, "init", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := initFS.ReadFile(name)
		if err != nil {
			return err
		}
		t, err := template.New(path.Base(name)).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, s); err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		files = append(files, File{Path: targetPath(strings.TrimPrefix(name, "init/"), s.Package), Content: buf.Bytes()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

func targetPath(name, pkg string) string {
	name = strings.TrimSuffix(name, ".tmpl")
	if rest, ok := strings.CutPrefix(name, "pkg/"); ok {
		name = pkg + "/" + rest
	}
	if name == "gitignore" {
		name = ".gitignore"
	}
	return name
}
