// SPDX-License-Identifier: Apache-2.0

package driver

import "context"

// LiveLister is implemented by brokers that can lose messages in a crash of
// their own (a JetStream server killed before it wrote them) and can list
// what they hold, so that an engine can find the executions of unfinished
// runs that no message carries any more and enqueue them again.
type LiveLister interface {
	// LiveMessages returns the IDs (TaskMessage.ID) of every message the
	// broker holds: queued, waiting for a redelivery, or delivered and not
	// yet settled.
	LiveMessages(ctx context.Context) (map[string]bool, error)
}
