// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// DeadLetter is a task execution the server's broker gave up on (GET
// /dead-letters): it failed permanently or used up its deliveries, and its
// run failed.
type DeadLetter struct {
	// ID names it for RequeueDeadLetter.
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
	RunID      string `json:"run_id"`
	Task       string `json:"task"`
	// Index is the element of a map task; nil for a task that is not one.
	Index *int `json:"index"`
	// Attempts is how many times the execution was delivered.
	Attempts int `json:"attempts"`
	// LastError is why it was given up on.
	LastError string `json:"last_error"`
	// Exhausted reports that the delivery limit ran out, rather than a
	// permanent failure ending it.
	Exhausted bool      `json:"exhausted"`
	Time      time.Time `json:"time"`
}

// DeadLetterPage is one page of ListDeadLetters.
type DeadLetterPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// NextCursor continues the walk (ListDeadLettersOptions.Cursor); empty
	// on the last page.
	NextCursor string `json:"next_cursor"`
}

// ListDeadLettersOptions filters and pages ListDeadLetters; the zero value
// asks for the first page of every pipeline the caller may write.
type ListDeadLettersOptions struct {
	// PipelineID keeps only dead letters of that pipeline when set.
	PipelineID string
	// Limit is the page size, 1 to 200; zero means the server's default (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// routeOf returns rt, or an error when a client generated before the
// route existed lacks it.
func routeOf(rt Route, name string) (Route, error) {
	if rt.Path == "" {
		return rt, fmt.Errorf("client: %s: this client was generated without that route; regenerate it with a newer taskwire", name)
	}
	return rt, nil
}

// ListDeadLetters returns a page of the dead letters of the pipelines the
// caller may write (the write action), newest first.
func (c *Client) ListDeadLetters(ctx context.Context, opts ListDeadLettersOptions) (*DeadLetterPage, error) {
	rt, err := routeOf(c.routes.ListDeadLetters, "ListDeadLetters")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts.PipelineID != "" {
		q.Set("pipeline_id", opts.PipelineID)
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	var page DeadLetterPage
	if err := c.call(ctx, &request{route: rt, query: q, safe: true}, &page); err != nil {
		return nil, err
	}
	if page.DeadLetters == nil {
		page.DeadLetters = []DeadLetter{}
	}
	return &page, nil
}

// RequeueDeadLetter gives the dead letter's task a new delivery in its
// failed run, which is running again, and returns the run (follow it with
// Wait or Events). A dead letter that does not exist (or was requeued
// already) is a *Error with Status 404; one whose run is not failed, 409;
// requeuing needs the write action on the pipeline (403 otherwise). It is
// not retried: a repeat would find the dead letter gone.
func (c *Client) RequeueDeadLetter(ctx context.Context, id string) (*Run, error) {
	rt, err := routeOf(c.routes.RequeueDeadLetter, "RequeueDeadLetter")
	if err != nil {
		return nil, err
	}
	var run Run
	if err := c.call(ctx, &request{route: rt, params: map[string]string{"dead_letter_id": id}}, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// RerunRun starts a new run of the pipeline of finished run runID with the
// same inputs, and returns it at once (202): its ID, Status and RerunOf. A
// run that has not finished is a *Error with Status 409; re-running needs
// the execute action on the pipeline (403 otherwise). It is not retried:
// each call starts a run.
func (c *Client) RerunRun(ctx context.Context, runID string) (*Run, error) {
	rt, err := routeOf(c.routes.RerunRun, "RerunRun")
	if err != nil {
		return nil, err
	}
	var run Run
	if err := c.call(ctx, &request{route: rt, params: map[string]string{"run_id": runID}}, &run); err != nil {
		return nil, err
	}
	return &run, nil
}
