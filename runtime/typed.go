// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"context"
	"encoding/json"
	"fmt"
)

// TypedRun is a handle on one run of a pipeline whose outputs decode into
// O, the pipeline's generated output struct. Generated code names it per
// pipeline (type SecureDemoPipelineRun = runtime.TypedRun[SecureDemoPipelineOutput]).
type TypedRun[O any] struct {
	engine *Engine
	id     string
}

// StartTyped starts a run of pipelineID, as Engine.Start does, and returns
// a typed handle on it.
func StartTyped[O any](ctx context.Context, e *Engine, pipelineID string, inputs map[string]any, opts StartOptions) (*TypedRun[O], error) {
	run, err := e.Start(ctx, pipelineID, inputs, opts)
	if err != nil {
		return nil, err
	}
	return &TypedRun[O]{engine: e, id: run.ID}, nil
}

// RunOnce runs pipelineID once on e, from Start to its end, returns its
// outputs decoded into O and shuts e down: the whole life of an engine made
// for one run, as the generated Run<Pipeline> functions use it (tests of
// task code, one-off runs). A run that fails or is cancelled returns its
// *RunError. If ctx is done before the run ends, the shutdown cancels the
// run and ctx's error is returned.
func RunOnce[O any](ctx context.Context, e *Engine, pipelineID string, inputs map[string]any) (out O, err error) {
	defer func() {
		if serr := e.Shutdown(ctx); err == nil {
			err = serr
		}
	}()
	run, err := StartTyped[O](ctx, e, pipelineID, inputs, StartOptions{})
	if err != nil {
		return out, err
	}
	return run.Wait(ctx)
}

// ID returns the run's id.
func (r *TypedRun[O]) ID() string { return r.id }

// Run returns the run's current state.
func (r *TypedRun[O]) Run(ctx context.Context) (*Run, error) { return r.engine.Get(ctx, r.id) }

// Wait waits for the run to finish and returns its outputs. A run that
// failed or was cancelled returns its *RunError.
func (r *TypedRun[O]) Wait(ctx context.Context) (O, error) {
	var zero O
	run, err := r.engine.Wait(ctx, r.id)
	if err != nil {
		return zero, err
	}
	return DecodeOutputs[O](run)
}

// DecodeOutputs decodes the outputs of a succeeded run into O, a struct
// whose JSON field names are the output names.
func DecodeOutputs[O any](run *Run) (O, error) {
	var out O
	if err := run.Err(); err != nil {
		return out, err
	}
	if run.Status != RunSucceeded {
		return out, fmt.Errorf("run %s is %s: %w", run.ID, run.Status, ErrRunNotFinished)
	}
	b, err := json.Marshal(run.Outputs)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return out, fmt.Errorf("%w: outputs of run %s: %w", ErrDecode, run.ID, err)
	}
	return out, nil
}

// Output returns the named output of a succeeded run decoded as a T.
func Output[T any](r *Run, name string) (T, error) {
	var zero T
	if r.Status != RunSucceeded {
		if err := r.Err(); err != nil {
			return zero, err
		}
		return zero, fmt.Errorf("%w: run %s is %s", ErrRunNotFinished, r.ID, r.Status)
	}
	v, ok := r.Outputs[name]
	if !ok {
		return zero, fmt.Errorf("%w: run %s has no output %q", ErrMissingInput, r.ID, name)
	}
	return Decode[T](v)
}
