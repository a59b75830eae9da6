// SPDX-License-Identifier: Apache-2.0

package driver

import "time"

// Backend is what an engine or a worker runs on: a Store for runs, a Broker
// for task messages and an EventBus for events. Every process of one
// deployment must use backends that share the same state (the in-memory
// Memory for one process, a JetStream backend across processes).
type Backend interface {
	// Store returns where runs are kept.
	Store() Store
	// Broker returns the task queue.
	Broker() Broker
	// Bus returns the event bus.
	Bus() EventBus
	// Heartbeat returns how often a worker must call Delivery.InProgress
	// while a task runs so that the broker does not redeliver it; zero
	// means the broker needs none.
	Heartbeat() time.Duration
	// RunningAfter returns how long a task attempt runs before the worker
	// writes its start (the run and task running, the attempt count) to
	// the Store; zero writes it before the task is called. A backend whose
	// writes cost a round trip returns a short delay, so that an attempt
	// shorter than that is written once, at its end, with its start.
	RunningAfter() time.Duration
}

// Memory is the in-memory Backend: runs, task messages and events live in
// this process only. NewMemory fills every field; a Memory may also be
// assembled by hand, for example to share one MemoryStore between engines
// in a test.
type Memory struct {
	Runs   *MemoryStore
	Tasks  *MemoryBroker
	Events *MemoryBus
}

// NewMemory returns a Memory backend with a new store, broker and bus.
func NewMemory() *Memory {
	return &Memory{Runs: NewMemoryStore(), Tasks: NewMemoryBroker(), Events: NewMemoryBus()}
}

// Store returns m.Runs.
func (m *Memory) Store() Store { return m.Runs }

// Broker returns m.Tasks.
func (m *Memory) Broker() Broker { return m.Tasks }

// Bus returns m.Events.
func (m *Memory) Bus() EventBus { return m.Events }

// Heartbeat returns zero: the memory broker never redelivers on its own.
func (m *Memory) Heartbeat() time.Duration { return 0 }

// RunningAfter returns zero: writes in memory cost nothing worth saving.
func (m *Memory) RunningAfter() time.Duration { return 0 }

// Close closes the broker and the bus; the store needs no closing.
func (m *Memory) Close() error {
	_ = m.Tasks.Close()
	return m.Events.Close()
}
