// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskwire/taskwire/internal/testutil"
)

// infoLog collects the TaskInfo every execution sees.
type infoLog struct {
	mu    sync.Mutex
	infos []TaskInfo
}

func (l *infoLog) add(ctx context.Context) (TaskInfo, error) {
	info, ok := TaskInfoFrom(ctx)
	if !ok {
		return info, Permanent(errors.New("no TaskInfo in the task's ctx"))
	}
	l.mu.Lock()
	l.infos = append(l.infos, info)
	l.mu.Unlock()
	return info, nil
}

func (l *infoLog) of(task string) []TaskInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []TaskInfo
	for _, i := range l.infos {
		if i.Task == task {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b TaskInfo) int { return (a.Attempt*1000 + a.Index) - (b.Attempt*1000 + b.Index) })
	return out
}

// A task's ctx carries its run, pipeline, task, attempt and map index, and
// a logger with them as attributes, on every attempt.
func TestTaskInfoInTaskContext(t *testing.T) {
	reg := NewRegistry()
	var log infoLog
	mustRegisterTask(t, reg, "flaky", func(ctx context.Context, in Inputs) (any, error) {
		// A context derived from the task's keeps the information.
		ctx, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		info, err := log.add(ctx)
		if err != nil {
			return nil, err
		}
		info.Logger.Info("flaky called")
		if info.Attempt < 2 {
			return nil, errors.New("transient")
		}
		return []int{1, 2, 3}, nil
	})
	mustRegisterTask(t, reg, "each", func(ctx context.Context, in Inputs) (any, error) {
		info, err := log.add(ctx)
		if err != nil {
			return nil, err
		}
		info.Logger.Info("element")
		return Input[int](in, "nums")
	})
	mustRegisterPipeline(t, reg, Pipeline{
		ID: "info",
		Tasks: []Task{
			{Name: "flaky", Output: "nums", Retry: RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}},
			{Name: "each", Inputs: []string{"nums"}, Output: "copies", Map: "nums"},
		},
	})
	var out testutil.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	e := newEngine(t, reg, WithLogger(logger))
	ctx := testCtx(t)
	r, err := e.Run(ctx, "info", nil, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}

	flaky := log.of("flaky")
	if len(flaky) != 2 {
		t.Fatalf("flaky ran %d times, want 2: %+v", len(flaky), flaky)
	}
	for i, info := range flaky {
		if info.RunID != r.ID || info.PipelineID != "info" || info.Attempt != i+1 || info.Index != -1 || info.Logger == nil {
			t.Errorf("flaky attempt %d saw %+v, want run %s, pipeline info, index -1", i+1, info, r.ID)
		}
	}
	each := log.of("each")
	if len(each) != 3 {
		t.Fatalf("each ran %d times, want 3: %+v", len(each), each)
	}
	for i, info := range each {
		if info.RunID != r.ID || info.Attempt != 1 || info.Index != i {
			t.Errorf("element %d saw %+v", i, info)
		}
	}

	// The logger writes to the engine's logger with the execution's attributes.
	type record struct {
		Msg      string
		Run      string `json:"run_id"`
		Pipeline string
		Task     string
		Attempt  int
		Index    *int
	}
	var flakyLogs, elementLogs []record
	for _, line := range out.Lines() {
		var rec record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec.Msg {
		case "flaky called":
			flakyLogs = append(flakyLogs, rec)
		case "element":
			elementLogs = append(elementLogs, rec)
		}
	}
	if len(flakyLogs) != 2 || len(elementLogs) != 3 {
		t.Fatalf("log records: %d of flaky, %d of elements:\n%s", len(flakyLogs), len(elementLogs), strings.Join(out.Lines(), "\n"))
	}
	for _, rec := range flakyLogs {
		if rec.Run != r.ID || rec.Pipeline != "info" || rec.Task != "flaky" || rec.Attempt < 1 || rec.Index != nil {
			t.Errorf("flaky log record %+v", rec)
		}
	}
	indexes := map[int]bool{}
	for _, rec := range elementLogs {
		if rec.Run != r.ID || rec.Task != "each" || rec.Attempt != 1 || rec.Index == nil {
			t.Errorf("element log record %+v", rec)
			continue
		}
		indexes[*rec.Index] = true
	}
	if len(indexes) != 3 || !indexes[0] || !indexes[1] || !indexes[2] {
		t.Errorf("element log indexes %v, want 0, 1 and 2", indexes)
	}
}

func TestTaskInfoOutsideTask(t *testing.T) {
	info, ok := TaskInfoFrom(context.Background())
	if ok || info.Index != -1 || info.Logger == nil || info.RunID != "" {
		t.Fatalf("TaskInfoFrom(Background) = %+v, %v; want Index -1, a logger, false", info, ok)
	}
}

// WithTaskInfo gives a test's direct call of a task method what the
// runtime would.
func TestWithTaskInfo(t *testing.T) {
	var out testutil.Buffer
	ctx := WithTaskInfo(context.Background(), TaskInfo{RunID: "R1", PipelineID: "p", Task: "t", Attempt: 2, Index: -1, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	ctx = context.WithValue(ctx, struct{ k int }{1}, "other values still reach through")
	info, ok := TaskInfoFrom(ctx)
	if !ok || info.RunID != "R1" || info.PipelineID != "p" || info.Task != "t" || info.Attempt != 2 || info.Index != -1 {
		t.Fatalf("TaskInfoFrom = %+v, %v", info, ok)
	}
	if ctx.Value(struct{ k int }{1}) == nil {
		t.Error("a value set above the task context is lost")
	}
	info.Logger.Info("hello")
	if line := strings.Join(out.Lines(), "\n"); !strings.Contains(line, "run_id=R1 pipeline=p task=t attempt=2") || strings.Contains(line, "index=") {
		t.Errorf("log line %q lacks the execution's attributes", line)
	}
}
