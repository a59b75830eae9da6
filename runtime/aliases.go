// SPDX-License-Identifier: Apache-2.0

package runtime

import "github.com/taskwire/taskwire/runtime/driver"

// The run and event types users read, defined with the backends in package
// driver (which also holds the backend interfaces and their in-memory
// implementations) and named here so that users need only this package.
type (
	// Run is the public view of a run; see driver.Run.
	Run = driver.Run
	// Owner is the principal that started a run; see driver.Owner.
	Owner = driver.Owner
	// RunStatus is the status of a run.
	RunStatus = driver.RunStatus
	// TaskState is the state of one task within a run.
	TaskState = driver.TaskState
	// TaskStatus is the status of one task of a run.
	TaskStatus = driver.TaskStatus
	// Value is a dataflow value: a pipeline input or a task output.
	Value = driver.Value
	// Event reports a change in a run.
	Event = driver.Event
	// EventType names what an Event reports.
	EventType = driver.EventType
	// EventFilter selects events for Engine.Subscribe.
	EventFilter = driver.EventFilter
	// Subscription is a stream of events.
	Subscription = driver.Subscription
	// ListOptions filters and pages Engine.List.
	ListOptions = driver.ListOptions
	// RunPage is one page of Engine.List.
	RunPage = driver.RunPage
)

// Run statuses; see driver.RunStatus.
const (
	RunPending   = driver.RunPending
	RunRunning   = driver.RunRunning
	RunSucceeded = driver.RunSucceeded
	RunFailed    = driver.RunFailed
	RunCancelled = driver.RunCancelled
)

// Task statuses; see driver.TaskStatus.
const (
	TaskPending   = driver.TaskPending
	TaskRunning   = driver.TaskRunning
	TaskSucceeded = driver.TaskSucceeded
	TaskFailed    = driver.TaskFailed
	TaskCancelled = driver.TaskCancelled
)

// Event types; see driver.EventType.
const (
	EventSnapshot      = driver.EventSnapshot
	EventRunStarted    = driver.EventRunStarted
	EventTaskStarted   = driver.EventTaskStarted
	EventTaskRetrying  = driver.EventTaskRetrying
	EventTaskSucceeded = driver.EventTaskSucceeded
	EventTaskFailed    = driver.EventTaskFailed
	EventRunSucceeded  = driver.EventRunSucceeded
	EventRunFailed     = driver.EventRunFailed
	EventRunCancelled  = driver.EventRunCancelled

	EventTaskElementSucceeded = driver.EventTaskElementSucceeded
	EventTaskElementFailed    = driver.EventTaskElementFailed
)

// Page sizes of Engine.List; see driver.ListOptions.
const (
	DefaultListLimit = driver.DefaultListLimit
	MaxListLimit     = driver.MaxListLimit
)

// ValueOf returns a Value holding x; see driver.ValueOf.
func ValueOf(x any) Value { return driver.ValueOf(x) }

// RawJSON returns a Value holding the JSON document b without copying it;
// see driver.RawJSON.
func RawJSON(b []byte) Value { return driver.RawJSON(b) }

// Decode decodes v into a T; see driver.Decode.
func Decode[T any](v Value) (T, error) { return driver.Decode[T](v) }
