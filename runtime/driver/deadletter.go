// SPDX-License-Identifier: Apache-2.0

package driver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrDeadLetterNotFound reports a dead-letter ID the broker does not hold
// (never recorded, requeued already, or evicted).
var ErrDeadLetterNotFound = errors.New("dead letter not found")

// DeadLetterStore is implemented by brokers whose dead letters can be
// listed, read and removed, so that an API can show them and requeue them
// whatever the backend: MemoryBroker and the JetStream broker implement
// it. The engine finds it on its backend's Broker.
type DeadLetterStore interface {
	// ListDeadLetters returns dead letters newest first, filtered and paged
	// by opts.
	ListDeadLetters(ctx context.Context, opts DeadLetterListOptions) (DeadLetterPage, error)
	// GetDeadLetter returns the dead letter with the given ID, or an error
	// wrapping ErrDeadLetterNotFound.
	GetDeadLetter(ctx context.Context, id string) (DeadLetter, error)
	// DeleteDeadLetter removes the dead letter with the given ID; removing
	// one that is not there is not an error.
	DeleteDeadLetter(ctx context.Context, id string) error
}

// DeadLetterListOptions filters and pages ListDeadLetters.
type DeadLetterListOptions struct {
	// PipelineID keeps only dead letters of that pipeline when set.
	PipelineID string
	// Allow, when set, keeps only dead letters of the pipelines it accepts
	// (for example those the caller may write).
	Allow func(pipelineID string) bool
	// Limit is the page size: zero means DefaultListLimit, larger than
	// MaxListLimit means MaxListLimit.
	Limit int
	// Cursor continues a previous walk; empty starts at the newest.
	Cursor string
}

func (o DeadLetterListOptions) limit() int {
	return ListOptions{Limit: o.Limit}.limit()
}

// Keep reports whether opts select a dead letter of pipelineID.
func (o DeadLetterListOptions) Keep(pipelineID string) bool {
	return (o.PipelineID == "" || o.PipelineID == pipelineID) && (o.Allow == nil || o.Allow(pipelineID))
}

// Page returns the page of opts from dead letters sorted newest first,
// each with its sequence number in the store's recording order (seqs,
// descending); kind tells cursors of different stores apart (see
// EncodeCursor).
func (o DeadLetterListOptions) Page(kind string, dls []DeadLetter, seqs []uint64) (DeadLetterPage, error) {
	var after uint64
	if o.Cursor != "" {
		c, err := DecodeCursor(kind, o.Cursor)
		if err != nil {
			return DeadLetterPage{}, err
		}
		after = c
	}
	page := DeadLetterPage{DeadLetters: []DeadLetter{}}
	n, last := o.limit(), uint64(0)
	for i, dl := range dls {
		if o.Cursor != "" && seqs[i] >= after {
			continue
		}
		if !o.Keep(dl.PipelineID) {
			continue
		}
		if len(page.DeadLetters) == n {
			page.NextCursor = EncodeCursor(kind, last)
			break
		}
		page.DeadLetters = append(page.DeadLetters, dl)
		last = seqs[i]
	}
	return page, nil
}

// DeadLetterPage is one page of ListDeadLetters.
type DeadLetterPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// NextCursor continues the walk; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DeadLetterID returns the API identity of the dead letter of an execution
// (task of run, element index or -1): URL-safe and opaque.
func DeadLetterID(runID, task string, index int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(runID + "/" + task + "/" + strconv.Itoa(index)))
}

// ParseDeadLetterID reverses DeadLetterID. An ID it did not make yields an
// error wrapping ErrDeadLetterNotFound.
func ParseDeadLetterID(id string) (runID, task string, index int, err error) {
	b, derr := base64.RawURLEncoding.DecodeString(id)
	s := string(b)
	j := strings.LastIndexByte(s, '/')
	var i int
	if j > 0 {
		i = strings.LastIndexByte(s[:j], '/')
	}
	if derr != nil || j <= 0 || i <= 0 || i+1 == j {
		return "", "", 0, fmt.Errorf("%w: %q", ErrDeadLetterNotFound, id)
	}
	index, perr := strconv.Atoi(s[j+1:])
	if perr != nil || index < -1 {
		return "", "", 0, fmt.Errorf("%w: %q", ErrDeadLetterNotFound, id)
	}
	return s[:i], s[i+1 : j], index, nil
}

// reasonTag starts the Reason of a dead letter whose task failed with its
// own error text (TaggedReason).
const reasonTag = "(error id "

// TaggedReason returns the Reason of a dead letter whose task failed with
// text under error id id (see Run.ErrorID): the id first, so that it
// survives a broker's truncation of long reasons, then the full text for
// operators. With id empty it returns text.
func TaggedReason(id, text string) string {
	if id == "" {
		return text
	}
	return reasonTag + id + ") " + text
}

// PublicReason is the dead letter's Reason as clients of the HTTP API
// see it: the stable message of PublicError for a reason made by
// TaggedReason, the reason itself otherwise.
func (dl DeadLetter) PublicReason() string {
	rest, ok := strings.CutPrefix(dl.Reason, reasonTag)
	if !ok {
		return dl.Reason
	}
	id, _, ok := strings.Cut(rest, ")")
	if !ok || id == "" {
		id = "unknown"
	}
	return PublicError(dl.Reason, id)
}
