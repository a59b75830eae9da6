// SPDX-License-Identifier: Apache-2.0

// Package fault names the points of a task's life in a worker, and of a
// run's start in an engine, where a test may stop the process, to prove
// that runs survive a crash at each of them. Nothing happens at a point unless a test has set a hook; the cost
// when none is set is one atomic load.
package fault

import "sync/atomic"

// Point is a step of a delivery's handling by a worker, or of a run's
// start.
type Point string

// Created: an engine stored a new run; its first tasks are not enqueued.
const Created Point = "created"

// The points, in the order a delivery passes them.
const (
	// Received: a delivery was received; nothing is done yet.
	Received Point = "received"
	// Executed: the task function returned; its result is not written.
	Executed Point = "executed"
	// Recorded: the result is written; the tasks it made ready are not
	// enqueued.
	Recorded Point = "recorded"
	// Enqueued: the ready tasks are enqueued; the delivery is not
	// acknowledged.
	Enqueued Point = "enqueued"
)

// Points lists every point of a delivery.
var Points = []Point{Received, Executed, Recorded, Enqueued}

var hook atomic.Pointer[func(Point)]

// Set makes f run at every point reached from now on (nil: none).
func Set(f func(Point)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}

// At marks that the caller reached p.
func At(p Point) {
	if h := hook.Load(); h != nil {
		(*h)(p)
	}
}
