// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/taskwire/taskwire/runtime/driver"
)

// A task message with its run's record appended by hand reads back as the
// one json.Marshal writes with the snapshot field set.
func TestAppendSnapshot(t *testing.T) {
	record := []byte(`{"id":"R1","values":{"in":{"a":[1,2,"x\"}"]}},"tasks":[]}`)
	m := driver.TaskMessage{RunID: "R1", PipelineID: "p", Task: "t", Index: -1}
	msg, err := json.Marshal(wireTask{TaskMessage: m})
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(wireTask{TaskMessage: m, Snapshot: &wireSnapshot{Rev: 42, Record: record}})
	if err != nil {
		t.Fatal(err)
	}
	got := appendSnapshot(msg, 42, record)
	if !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	var a, b wireTask
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("appended:\n%s\nmarshalled:\n%s", got, want)
	}
	if got := appendSnapshot([]byte(`{}`), 7, []byte(`{}`)); string(got) != `{"snapshot":{"rev":7,"record":{}}}` {
		t.Fatalf("to an empty object: %s", got)
	}
	if got := appendSnapshot([]byte(`null`), 7, record); string(got) != `null` {
		t.Fatalf("to no object: %s", got)
	}
}
