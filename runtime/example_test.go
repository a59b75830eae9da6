// SPDX-License-Identifier: Apache-2.0

package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/taskwire/taskwire/runtime"
)

// A pipeline of two tasks, run in memory: register the task functions and
// the pipeline, start an engine, start a typed run and wait for its outputs.
// Generated code does the registering (Register) and the typed start
// (Start<Pipeline>) for every task and pipeline of a spec.
func Example() {
	reg := runtime.NewRegistry()
	err := errors.Join(
		reg.RegisterTask("greet", func(ctx context.Context, in runtime.Inputs) (any, error) {
			name, err := runtime.Input[string](in, "name")
			if err != nil {
				return nil, err
			}
			return "Hello, " + name, nil
		}),
		reg.RegisterTask("shout", func(ctx context.Context, in runtime.Inputs) (any, error) {
			greeting, err := runtime.Input[string](in, "greeting")
			if err != nil {
				return nil, err
			}
			return strings.ToUpper(greeting) + "!", nil
		}),
		// shout reads greet's output by its name: greeting.
		reg.RegisterPipeline(runtime.Pipeline{
			ID: "hello",
			Tasks: []runtime.Task{
				{Name: "greet", Inputs: []string{"name"}, Output: "greeting", Type: "string"},
				{Name: "shout", Inputs: []string{"greeting"}, Output: "shouted", Type: "string"},
			},
			Inputs:  []runtime.Field{{Name: "name", Type: "string", Required: true}},
			Outputs: []runtime.Field{{Name: "shouted", Type: "string", Required: true}},
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	engine := runtime.New(reg) // in memory: store, broker and event bus
	defer engine.Shutdown(ctx)

	type helloOutput struct {
		Shouted string `json:"shouted"`
	}
	run, err := runtime.StartTyped[helloOutput](ctx, engine, "hello", map[string]any{"name": "gopher"}, runtime.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := run.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.Shouted)
	// Output: HELLO, GOPHER!
}
