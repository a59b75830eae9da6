// SPDX-License-Identifier: Apache-2.0

package httpapi

import (
	"log/slog"
	"time"

	"github.com/taskwire/taskwire/runtime/audit"
	"github.com/taskwire/taskwire/runtime/telemetry"
)

// checkpointLog is the audit log's observer: metrics (when on) and an
// "audit checkpoint" line in the server log for each checkpoint, so that
// the checkpoint reaches places the writer of the audit file need not
// control (a log collector, a metrics store).
type checkpointLog struct {
	metrics *telemetry.Metrics // nil when metrics are off
	log     *slog.Logger
}

// auditObserver returns the observer of the server's audit log.
func auditObserver(m *telemetry.Metrics, log *slog.Logger) audit.Observer {
	return checkpointLog{metrics: m, log: log}
}

func (o checkpointLog) Written(n int) {
	if o.metrics != nil {
		o.metrics.Written(n)
	}
}

func (o checkpointLog) Synced(took time.Duration) {
	if o.metrics != nil {
		o.metrics.Synced(took)
	}
}

func (o checkpointLog) Failed() {
	if o.metrics != nil {
		o.metrics.Failed()
	}
}

// Checkpointed logs cp with the fields `taskwire audit verify --checkpoint`
// reads back from the line: file, seq, hash, checkpoint_time and, in a
// keyed chain, mac (never the key).
func (o checkpointLog) Checkpointed(cp audit.Checkpoint) {
	if o.metrics != nil {
		o.metrics.Checkpointed(cp)
	}
	attrs := []any{"file", cp.File, "seq", cp.Seq, "hash", cp.Hash, "checkpoint_time", cp.Time.Format(time.RFC3339Nano)}
	if cp.MAC != "" {
		attrs = append(attrs, "mac", cp.MAC)
	}
	o.log.Info("audit checkpoint", attrs...)
}
