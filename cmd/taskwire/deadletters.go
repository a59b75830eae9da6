// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskwire/taskwire/runtime/client"
	"github.com/taskwire/taskwire/runtime/route"
)

// Environment variables of the commands that call a running service.
const (
	envServiceURL = "TASKWIRE_URL"
	envAPIKey     = "TASKWIRE_API_KEY"
	envToken      = "TASKWIRE_TOKEN"
)

// defaultServiceURL is where the service commands call without --url or
// TASKWIRE_URL: the demo's address.
const defaultServiceURL = "http://127.0.0.1:8000"

// serviceFlags are the flags of the commands that call a running service.
type serviceFlags struct {
	url, header *string
	timeout     *time.Duration
}

func addServiceFlags(e *env, name string) (*flag.FlagSet, *serviceFlags) {
	fs := newFlags(e, name)
	url := e.getenv(envServiceURL)
	if url == "" {
		url = defaultServiceURL
	}
	return fs, &serviceFlags{
		url:     fs.String("url", url, "base URL of the service (default $"+envServiceURL+", else "+defaultServiceURL+")"),
		header:  fs.String("api-key-header", client.DefaultAPIKeyHeader, "header the API key is sent in"),
		timeout: fs.Duration("timeout", 30*time.Second, "longest the command waits for the service"),
	}
}

// client makes a client of the service with the credential of the
// environment: $TASKWIRE_API_KEY, else $TASKWIRE_TOKEN.
func (f *serviceFlags) client(e *env) (*client.Client, error) {
	var routes client.Routes
	for _, r := range route.Table(nil, false) {
		cr := client.Route{Method: r.Method, Path: r.Path, OperationID: r.OperationID}
		switch r.OperationID {
		case route.GetRun:
			routes.GetRun = cr
		case route.RerunRun:
			routes.RerunRun = cr
		case route.ListDeadLetters:
			routes.ListDeadLetters = cr
		case route.RequeueDead:
			routes.RequeueDeadLetter = cr
		}
	}
	opts := []client.Option{client.WithAPIKeyHeader(*f.header), client.WithHTTPClient(&http.Client{Timeout: *f.timeout})}
	switch {
	case e.getenv(envAPIKey) != "":
		opts = append(opts, client.WithAPIKey(e.getenv(envAPIKey)))
	case e.getenv(envToken) != "":
		opts = append(opts, client.WithBearerToken(e.getenv(envToken)))
	}
	return client.New(*f.url, routes, opts...)
}

// serviceError reports a failed call: 1 when the service answered with an
// error, 2 when it could not be reached.
func serviceError(e *env, name string, err error) int {
	var herr *client.Error
	if errors.As(err, &herr) {
		fmt.Fprintf(e.stderr, "taskwire %s: %d %s: %s\n", name, herr.Status, herr.Title, herr.Detail)
		if herr.Status == http.StatusUnauthorized {
			fmt.Fprintf(e.stderr, "Set $%s (or $%s) to a credential of the service.\n", envAPIKey, envToken)
		}
		return exitInvalid
	}
	fmt.Fprintf(e.stderr, "taskwire %s: %v\n", name, err)
	return exitUsage
}

// runDeadLetters serves `taskwire dead-letters list|requeue`.
func runDeadLetters(e *env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "requeue") {
		return usageError(e, "dead-letters", "say list or requeue")
	}
	sub := args[0]
	fs, sf := addServiceFlags(e, "dead-letters")
	pipeline := fs.String("pipeline", "", "list only the dead letters of this pipeline")
	limit := fs.Int("limit", 50, "list at most this many (1 to 200)")
	all := fs.Bool("all", false, "list every page, not only the first")
	format := fs.String("format", "text", "output of list: text or json")
	rest, err := parseFlags(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if !oneOf(*format, "text", "json") {
		return usageError(e, "dead-letters", "format must be text or json, not %q", *format)
	}
	c, err := sf.client(e)
	if err != nil {
		return usageError(e, "dead-letters", "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *sf.timeout)
	defer cancel()
	if sub == "requeue" {
		if len(rest) == 0 {
			return usageError(e, "dead-letters", "name the dead letters to requeue (their ids, from dead-letters list)")
		}
		for _, id := range rest {
			run, err := c.RequeueDeadLetter(ctx, id)
			if err != nil {
				return serviceError(e, "dead-letters", err)
			}
			fmt.Fprintf(e.stdout, "requeued %s: run %s is %s\n", id, run.ID, run.Status)
		}
		return exitOK
	}
	if len(rest) > 0 {
		return usageError(e, "dead-letters", "list takes no argument, not %q", rest[0])
	}
	if *limit < 1 || *limit > 200 {
		return usageError(e, "dead-letters", "limit must be between 1 and 200, not %d", *limit)
	}
	opts := client.ListDeadLettersOptions{PipelineID: *pipeline, Limit: *limit}
	var dls []client.DeadLetter
	next := ""
	for {
		page, err := c.ListDeadLetters(ctx, opts)
		if err != nil {
			return serviceError(e, "dead-letters", err)
		}
		dls, next = append(dls, page.DeadLetters...), page.NextCursor
		if !*all || next == "" {
			break
		}
		opts.Cursor = next
	}
	if *format == "json" {
		out := struct {
			DeadLetters []client.DeadLetter `json:"dead_letters"`
			NextCursor  string              `json:"next_cursor,omitempty"`
		}{dls, next}
		if out.DeadLetters == nil {
			out.DeadLetters = []client.DeadLetter{}
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	if len(dls) == 0 {
		fmt.Fprintln(e.stdout, "no dead letters")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tRUN\tTASK\tATTEMPTS\tTIME\tLAST ERROR")
	for _, dl := range dls {
		task := dl.Task
		if dl.Index != nil {
			task = fmt.Sprintf("%s[%d]", dl.Task, *dl.Index)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, dl.PipelineID, dl.RunID, task, dl.Attempts, dl.Time.UTC().Format(time.RFC3339), oneLine(dl.LastError))
	}
	_ = tw.Flush()
	if next != "" {
		fmt.Fprintln(e.stderr, "more dead letters: pass --all to list every page")
	}
	return exitOK
}

// runRerun serves `taskwire rerun RUN_ID...`.
func runRerun(e *env, args []string) int {
	fs, sf := addServiceFlags(e, "rerun")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(ids) == 0 {
		return usageError(e, "rerun", "name the runs to run again")
	}
	c, err := sf.client(e)
	if err != nil {
		return usageError(e, "rerun", "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *sf.timeout)
	defer cancel()
	for _, id := range ids {
		run, err := c.RerunRun(ctx, id)
		if err != nil {
			return serviceError(e, "rerun", err)
		}
		fmt.Fprintf(e.stdout, "run %s re-runs %s: %s\n", run.ID, id, run.Status)
	}
	return exitOK
}

// oneLine keeps the first line of s, for a table cell.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
