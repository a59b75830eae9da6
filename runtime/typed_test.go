// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type upperOutput struct {
	Upper string `json:"upper"`
	Size  int    `json:"size"`
}

func TestTypedRun(t *testing.T) {
	reg := NewRegistry()
	must(t, reg.RegisterTask("upper", func(ctx context.Context, in Inputs) (any, error) {
		s, err := Input[string](in, "text")
		if s == "fail" {
			return nil, Permanent(errors.New("asked to fail"))
		}
		return strings.ToUpper(s), err
	}))
	must(t, reg.RegisterTask("size", func(ctx context.Context, in Inputs) (any, error) {
		s, err := Input[string](in, "upper")
		return len(s), err
	}))
	must(t, reg.RegisterPipeline(Pipeline{ID: "p", Inputs: fieldsOf("text"), Tasks: []Task{
		{Name: "upper", Inputs: []string{"text"}, Output: "upper"},
		{Name: "size", Inputs: []string{"upper"}, Output: "size"},
	}}))
	e := New(reg)
	defer e.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	run, err := StartTyped[upperOutput](ctx, e, "p", map[string]any{"text": "hello"}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Wait(ctx)
	if err != nil || out != (upperOutput{Upper: "HELLO", Size: 5}) {
		t.Fatalf("Wait = %+v, %v", out, err)
	}
	if r, err := run.Run(ctx); err != nil || r.ID != run.ID() || r.Status != RunSucceeded {
		t.Fatalf("Run = %+v, %v", r, err)
	}

	failing, err := StartTyped[upperOutput](ctx, e, "p", map[string]any{"text": "fail"}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failing.Wait(ctx); !errors.Is(err, ErrRunFailed) {
		t.Fatalf("Wait of a failing run = %v, want ErrRunFailed", err)
	}
	if _, err := StartTyped[upperOutput](ctx, e, "nope", nil, StartOptions{}); !errors.Is(err, ErrUnknownPipeline) {
		t.Fatalf("unknown pipeline: %v", err)
	}
	if _, err := DecodeOutputs[upperOutput](&Run{ID: "r", Status: RunRunning}); !errors.Is(err, ErrRunNotFinished) {
		t.Fatalf("DecodeOutputs of a running run = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RunOnce runs one run to its end on an engine made for it, and shuts the
// engine down whatever the run's outcome.
func TestRunOnce(t *testing.T) {
	newReg := func() *Registry {
		reg := NewRegistry()
		must(t, reg.RegisterTask("upper", func(ctx context.Context, in Inputs) (any, error) {
			s, err := Input[string](in, "text")
			if s == "fail" {
				return nil, Permanent(errors.New("asked to fail"))
			}
			return strings.ToUpper(s), err
		}))
		must(t, reg.RegisterTask("size", func(ctx context.Context, in Inputs) (any, error) {
			s, err := Input[string](in, "upper")
			return len(s), err
		}))
		must(t, reg.RegisterPipeline(Pipeline{ID: "p", Inputs: fieldsOf("text"), Tasks: []Task{
			{Name: "upper", Inputs: []string{"text"}, Output: "upper"},
			{Name: "size", Inputs: []string{"upper"}, Output: "size"},
		}}))
		return reg
	}
	ctx := testCtx(t)
	e := New(newReg())
	out, err := RunOnce[upperOutput](ctx, e, "p", map[string]any{"text": "hello"})
	if err != nil || out != (upperOutput{Upper: "HELLO", Size: 5}) {
		t.Fatalf("RunOnce = %+v, %v", out, err)
	}
	if _, err := e.Start(ctx, "p", map[string]any{"text": "x"}, StartOptions{}); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("the engine still runs after RunOnce: %v", err)
	}

	e = New(newReg())
	var runErr *RunError
	if _, err := RunOnce[upperOutput](ctx, e, "p", map[string]any{"text": "fail"}); !errors.As(err, &runErr) || !errors.Is(err, ErrRunFailed) {
		t.Fatalf("RunOnce of a failing run = %v, want its *RunError", err)
	}
	if _, err := RunOnce[upperOutput](ctx, New(newReg()), "nope", nil); !errors.Is(err, ErrUnknownPipeline) {
		t.Fatalf("RunOnce of an unknown pipeline = %v", err)
	}
}
