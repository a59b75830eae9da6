// SPDX-License-Identifier: Apache-2.0

package runtime

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRegisterPipelineValidation(t *testing.T) {
	reg := NewRegistry()
	for _, name := range []string{"a", "b", "c"} {
		mustRegisterTask(t, reg, name, constFn(nil))
	}
	cases := []struct {
		name string
		p    Pipeline
		want []string
	}{
		{"unknown input", Pipeline{ID: "p", Tasks: []Task{{Name: "a", Inputs: []string{"nope"}, Output: "x"}}},
			[]string{`task "a" input "nope" is neither a pipeline input nor produced by a task`}},
		{"two producers", Pipeline{ID: "p", Tasks: []Task{{Name: "a", Output: "x"}, {Name: "b", Output: "x"}}},
			[]string{`output "x" is produced by two tasks, "a" and "b"`}},
		{"cycle", Pipeline{ID: "p", Tasks: []Task{
			{Name: "a", Inputs: []string{"z"}, Output: "x"},
			{Name: "b", Inputs: []string{"x"}, Output: "y"},
			{Name: "c", Inputs: []string{"y"}, Output: "z"},
		}}, []string{"cycle: a -> b -> c -> a"}},
		{"missing function", Pipeline{ID: "p", Tasks: []Task{{Name: "ghost", Output: "x"}}},
			[]string{`task "ghost" has no registered function`}},
		{"empty", Pipeline{ID: "", Tasks: nil}, []string{"empty pipeline ID", "no tasks"}},
		{"bad map", Pipeline{ID: "p", Inputs: fieldsOf("xs"), Tasks: []Task{{Name: "a", Inputs: []string{"xs"}, Output: "x", Map: "ys"}}},
			[]string{`task "a" maps over "ys", which is not one of its inputs`}},
		{"bad outputs", Pipeline{ID: "p", Outputs: fieldsOf("nothing"), Tasks: []Task{{Name: "a", Output: "x"}}},
			[]string{`output "nothing" is produced by no task`}},
		{"self loop and negative", Pipeline{ID: "p", Tasks: []Task{{Name: "a", Inputs: []string{"x"}, Output: "x", Timeout: -time.Second}}},
			[]string{`task "a" reads its own output "x"`, `task "a" has a negative timeout`}},
		{"output shadows input", Pipeline{ID: "p", Inputs: fieldsOf("x"), Tasks: []Task{{Name: "a", Output: "x"}}},
			[]string{`output "x" of task "a" has the name of a pipeline input`}},
		{"duplicate task", Pipeline{ID: "p", Tasks: []Task{{Name: "a", Output: "x"}, {Name: "a", Output: "y"}}},
			[]string{`task "a" listed twice`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := reg.RegisterPipeline(c.p)
			if !errors.Is(err, ErrInvalidPipeline) {
				t.Fatalf("err = %v, want ErrInvalidPipeline", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	ok := Pipeline{ID: "ok", Tasks: []Task{{Name: "a", Output: "x"}}}
	if err := reg.RegisterPipeline(ok); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterPipeline(ok); !errors.Is(err, ErrInvalidPipeline) {
		t.Fatalf("duplicate pipeline: %v", err)
	}
	if got, found := reg.Pipeline("ok"); !found || got.ID != "ok" || len(reg.Pipelines()) != 1 {
		t.Fatalf("lookup: %+v %v", got, found)
	}
	if err := reg.RegisterTask("a", constFn(nil)); !errors.Is(err, ErrInvalidTask) {
		t.Fatalf("duplicate task: %v", err)
	}
	if err := reg.RegisterTask("", nil); !errors.Is(err, ErrInvalidTask) {
		t.Fatalf("empty task: %v", err)
	}
}

func TestRetryDelay(t *testing.T) {
	p := RetryPolicy{Attempts: 10, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 60: time.Second} {
		for range 20 {
			if d := p.Delay(n); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
	if d := (RetryPolicy{}).Delay(3); d != 0 {
		t.Fatalf("zero backoff delay %s", d)
	}
	if d := (RetryPolicy{Backoff: time.Hour}).Delay(200); d <= 0 {
		t.Fatalf("uncapped delay overflowed: %s", d)
	}
}
