// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// maxPullBatch bounds the messages one pull request asks for.
const maxPullBatch = 256

// pullGrace is how long past its expiry a pull request of which the server
// has said nothing (it restarted, or its status was lost) is taken to be
// gone, so that another is sent.
const pullGrace = time.Second

// puller receives a broker's task messages with pull requests sized to the
// callers waiting in Receive, at most one request in flight: each message
// delivered has a caller waiting for it, so a worker never holds a message
// it has no slot for (its AckWait running while other workers are idle),
// and while callers wait faster than one round trip brings their messages,
// one request serves several of them. The messages of all its requests
// come to one subscription, made once; Consumer.Next subscribes and
// unsubscribes for each message, and sends a request for each.
type puller struct {
	nc    *nats.Conn
	subj  string // the consumer's pull-request subject
	inbox string // requests' replies come to inbox.<request number>
	sub   *nats.Subscription

	mu      sync.Mutex
	closed  bool
	waiters []chan *nats.Msg // callers in receive, first come first served
	spare   []*nats.Msg      // delivered when no caller waited (one gave up)
	out     *pullReq         // the request in flight, nil when none
	seq     uint64           // number of the last request sent
	retry   *time.Timer
	onError func(error)   // a request failed or the server refused one
	gone    chan struct{} // closed when the connection is closed for good
}

type pullReq struct {
	seq       uint64
	n, got    int
	expiresAt *time.Timer
}

func newPuller(nc *nats.Conn, stream, consumer string, onError func(error)) (*puller, error) {
	p := &puller{
		nc:      nc,
		subj:    "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer,
		inbox:   nc.NewInbox(),
		onError: onError,
		gone:    make(chan struct{}),
	}
	sub, err := nc.Subscribe(p.inbox+".*", p.deliver)
	if err != nil {
		return nil, fmt.Errorf("natsjs: subscribe for task messages: %w", err)
	}
	// The subscription's own buffer never holds more than one request
	// asks for; no limit of its own may drop a message.
	_ = sub.SetPendingLimits(-1, -1)
	p.sub = sub
	return p, nil
}

// receive waits for a message until ctx is done or stop is closed.
func (p *puller) receive(ctx context.Context, stop <-chan struct{}) (*nats.Msg, error) {
	p.mu.Lock()
	if len(p.spare) > 0 {
		m := p.spare[0]
		p.spare = p.spare[1:]
		p.mu.Unlock()
		return m, nil
	}
	w := make(chan *nats.Msg, 1)
	p.waiters = append(p.waiters, w)
	p.requestLocked()
	p.mu.Unlock()
	var err error
	select {
	case m := <-w:
		return m, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = errPullerClosed
	case <-p.gone:
		err = nats.ErrConnectionClosed
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
	} else { // a message was handed to this caller as it gave up
		p.handLocked(<-w)
	}
	p.mu.Unlock()
	return nil, err
}

// handLocked gives m to the first caller waiting, or keeps it for the
// next one.
func (p *puller) handLocked(m *nats.Msg) {
	switch {
	case p.closed || len(p.spare) >= maxPullBatch:
		_ = m.Nak() // for another worker to have
	case len(p.waiters) > 0:
		p.waiters[0] <- m
		p.waiters = slices.Delete(p.waiters, 0, 1)
	default:
		p.spare = append(p.spare, m)
	}
}

var errPullerClosed = errors.New("natsjs: puller closed")

// requestLocked sends a pull request for the callers waiting, unless one
// is in flight: its messages go to them, and the next request, sent when
// it has ended, asks for those still waiting.
func (p *puller) requestLocked() {
	n := min(len(p.waiters), maxPullBatch)
	if p.closed || p.out != nil || p.retry != nil || n == 0 {
		return
	}
	p.seq++
	body := make([]byte, 0, 48)
	body = append(body, `{"batch":`...)
	body = strconv.AppendInt(body, int64(n), 10)
	body = append(body, `,"expires":`...)
	body = strconv.AppendInt(body, pollWait.Nanoseconds(), 10)
	body = append(body, '}')
	if err := p.nc.PublishRequest(p.subj, p.inbox+"."+strconv.FormatUint(p.seq, 10), body); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			p.closed = true
			close(p.gone)
			return
		}
		p.backoffLocked(fmt.Errorf("natsjs: pull request: %w", err)) // try again shortly
		return
	}
	r := &pullReq{seq: p.seq, n: n}
	r.expiresAt = time.AfterFunc(pollWait+pullGrace, func() { p.end(r.seq) })
	p.out = r
}

// backoffLocked waits a moment before the next request.
func (p *puller) backoffLocked(err error) {
	if p.onError != nil {
		p.onError(err)
	}
	p.retry = time.AfterFunc(100*time.Millisecond, func() {
		p.mu.Lock()
		p.retry = nil
		p.requestLocked()
		p.mu.Unlock()
	})
}

// end takes the request seq as done, if it is the one in flight.
func (p *puller) end(seq uint64) {
	p.mu.Lock()
	if r := p.out; r != nil && r.seq == seq {
		p.endLocked()
		p.requestLocked()
	}
	p.mu.Unlock()
}

// endLocked ends the request in flight.
func (p *puller) endLocked() {
	p.out.expiresAt.Stop()
	p.out = nil
}

// deliver is the subscription's handler: a task message goes to the
// callers, a status about a request ends it.
func (p *puller) deliver(m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		p.status(m)
		return
	}
	p.mu.Lock()
	p.handLocked(m)
	if r := p.out; r != nil {
		if r.got++; r.got >= r.n {
			p.endLocked()
			p.requestLocked()
		}
	}
	p.mu.Unlock()
}

// status handles the server's word on a request: 408 (it expired before
// all its messages came), 409 (the server ended it: the consumer was
// deleted or changed leader, or its limits refused the request), 100 (a
// heartbeat, which these requests do not ask for).
func (p *puller) status(m *nats.Msg) {
	code := m.Header.Get("Status")
	if code == "100" {
		return
	}
	seq, err := strconv.ParseUint(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], 10, 64)
	if err != nil {
		return
	}
	if code != "408" && code != "404" {
		desc := m.Header.Get("Description")
		p.mu.Lock()
		if r := p.out; r != nil && r.seq == seq {
			p.endLocked()
			if !p.closed {
				p.backoffLocked(fmt.Errorf("natsjs: pull request refused: %s %s", code, desc))
			}
		}
		p.mu.Unlock()
		return
	}
	p.end(seq)
}

// close stops the requests and hands back the messages no caller took,
// for other workers to have at once; callers waiting see stop closed.
func (p *puller) close() {
	p.mu.Lock()
	p.closed = true
	if p.out != nil {
		p.endLocked()
	}
	if p.retry != nil {
		p.retry.Stop()
	}
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()
	_ = p.sub.Unsubscribe()
	for _, m := range spare {
		_ = m.Nak()
	}
}
