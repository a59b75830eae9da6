// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/taskwire/taskwire/runtime/httpapi"
	"github.com/taskwire/taskwire/runtime/keyfile"
)

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,16}$`)

func runKeygen(e *env, args []string) int {
	fs := newFlags(e, "keygen")
	prefix := fs.String("prefix", "sk_", "a recognisable prefix for the key (letters, digits, _ and -, up to 16)")
	appendTo := fs.String("append", "", "add the key's entry (its sha256, never the key) to this keys file (security.keys_file), creating it if need be")
	id := fs.String("id", "", "with --append: the key id, snake_case (required)")
	role := fs.String("role", "", "with --append: the key's role (required)")
	pipelines := fs.String("pipelines", "", "with --append: pipeline patterns, comma-separated, such as \"*\" or \"report_*\" (required)")
	expires := fs.String("expires", "", "with --append: when the key stops working, a date (2027-01-31) or an RFC 3339 time")
	description := fs.String("description", "", "with --append: what the key is for and who holds it")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return usageError(e, "keygen", "unexpected argument %q", rest[0])
	}
	if !prefixRE.MatchString(*prefix) {
		return usageError(e, "keygen", "prefix %q must be up to 16 letters, digits, _ or -", *prefix)
	}
	if *appendTo == "" {
		if *id != "" || *role != "" || *pipelines != "" || *expires != "" || *description != "" {
			return usageError(e, "keygen", "--id, --role, --pipelines, --expires and --description describe the entry --append writes; give --append FILE")
		}
		key, sum := httpapi.NewKey(*prefix)
		fmt.Fprintf(e.stdout, "key:    %s\nsha256: %s\n", key, sum)
		fmt.Fprintf(e.stderr, "Give the key to its client once; put either `env: VARIABLE` (holding the key) or `sha256: %s` in the spec.\n", sum)
		return exitOK
	}
	switch {
	case *id == "":
		return usageError(e, "keygen", "--append needs --id, the key id (snake_case)")
	case *role == "":
		return usageError(e, "keygen", "--append needs --role")
	case *pipelines == "":
		return usageError(e, "keygen", "--append needs --pipelines, the patterns the key reaches (for example --pipelines '*')")
	}
	key, sum := httpapi.NewKey(*prefix)
	entry := keyfile.Entry{ID: *id, SHA256: sum, Role: *role, Pipelines: splitList(*pipelines), Description: *description}
	if *expires != "" {
		t, err := keyfile.ParseExpires(*expires)
		if err != nil {
			return usageError(e, "keygen", "--expires: %v", err)
		}
		entry.Expires = t
	}
	if err := appendKey(*appendTo, entry); err != nil {
		fmt.Fprintf(e.stderr, "taskwire keygen: %v\n", err)
		return exitInvalid
	}
	fmt.Fprintf(e.stdout, "key:    %s\nsha256: %s\n", key, sum)
	fmt.Fprintf(e.stderr, "Added key %q to %s; a server using it as security.keys_file takes it within seconds. Give the key to its client once: it is not stored anywhere.\n", *id, *appendTo)
	return exitOK
}

// appendKey adds entry to the keys file at path, replacing the file in one
// rename so that a server watching it never reads half of it.
func appendKey(path string, entry keyfile.Entry) error {
	data, err := os.ReadFile(path)
	mode := fs.FileMode(0o600)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	out, err := keyfile.Append(path, data, entry)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
