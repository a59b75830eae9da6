// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// An event's own members cannot be taken for the record it carries, even
// when their text holds the record member's bytes.
func TestSplitRecord(t *testing.T) {
	ev := driver.Event{Type: driver.EventRunFailed, RunID: "r", Index: -1, Error: `x,"` + recordField + `":{"id":"forged"}`}
	plain, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if data, rec := splitRecord(plain); rec != nil || !bytes.Equal(data, plain) {
		t.Fatalf("an event without a record split into %s and %s", data, rec)
	}
	record := []byte(`{"id":"r","status":"failed"}`)
	with := append(append(append(append([]byte{}, plain[:len(plain)-1]...), recordMember...), record...), '}')
	if !json.Valid(with) {
		t.Fatalf("not JSON: %s", with)
	}
	data, rec := splitRecord(with)
	if !bytes.Equal(rec, record) || !bytes.Equal(data, plain) {
		t.Fatalf("split into %s and %s", data, rec)
	}
	var back driver.Event
	if err := json.Unmarshal(data, &back); err != nil || back.Error != ev.Error {
		t.Fatalf("event %+v %v", back, err)
	}
}

// A record that came with an event serves one Get, and only while it is
// fresh; a store bounds what it keeps.
func TestFinalsTakeOnceWhileFresh(t *testing.T) {
	var f finals
	now := time.Now()
	f.arrived("a", []byte("A"), now)
	f.arrived("b", []byte("B"), now)
	if data, ok := f.take("a", now.Add(finalTTL/2)); !ok || string(data) != "A" {
		t.Fatalf("fresh: %q %v", data, ok)
	}
	if _, ok := f.take("a", now); ok {
		t.Fatal("taken twice")
	}
	if _, ok := f.take("b", now.Add(finalTTL)); ok {
		t.Fatal("a stale record served a Get")
	}
	for i := range 2 * maxFinals {
		f.stored(strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i), []byte("r"))
		f.arrived(strings.Repeat("z", i), []byte("r"), now)
	}
	if len(f.ending) > maxFinals || len(f.came) > maxFinals {
		t.Fatalf("kept %d and %d records", len(f.ending), len(f.came))
	}
	f.stored("big", make([]byte, maxFinal+1))
	if f.forPublish("big") != nil {
		t.Fatal("a record over maxFinal is kept for its event")
	}
}

// The process that ends a run sends its last record with the run-ended
// event, and a process that receives the event has the run as it ended
// (End) without a read: here the record is gone from the bucket by then
// (purged behind the store's back), and End still answers, once. A record
// over maxFinal is not sent, and its event drops the record an earlier end
// of the run brought.
func TestRunEndedEventCarriesTheRecord(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	ender := connect(t, s.ClientURL())
	waiter := connect(t, s.ClientURL())
	sub, err := waiter.Bus().Subscribe(ctx, driver.EventFilter{Types: []driver.EventType{driver.EventRunFailed}}, driver.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	for _, tc := range []struct {
		id      string
		size    int
		carried bool
	}{{"small", 10, true}, {"large", maxFinal, false}} {
		rec := &driver.RunRecord{ID: tc.id, PipelineID: "p", Status: runtime.RunPending, Values: map[string]runtime.Value{}}
		if _, _, err := ender.Store().Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		reason := strings.Repeat("o", tc.size)
		if err := ender.Store().Update(ctx, tc.id, func(r *driver.RunRecord) error {
			r.Status, r.Error, r.FinishedAt = runtime.RunFailed, reason, time.Now()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		waiter.store.finals.arrived(tc.id, []byte(`{"id":"`+tc.id+`","status":"failed","error":"an earlier end"}`), time.Now())
		if err := ender.Bus().Publish(ctx, driver.Event{Type: driver.EventRunFailed, RunID: tc.id, PipelineID: "p", Index: -1, Error: reason, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-sub.Events():
			if ev.RunID != tc.id {
				t.Fatalf("event of %s", ev.RunID)
			}
		case <-ctx.Done():
			t.Fatal("no event")
		}
		if err := waiter.store.kv.Purge(ctx, runKey(tc.id)); err != nil {
			t.Fatal(err)
		}
		if tc.carried {
			came := waiter.store.finals.came[tc.id]
			if _, ok, _ := waiter.store.End(ctx, tc.id, time.Now().Add(time.Hour)); ok {
				t.Fatalf("%s: an end from before the wait began served it", tc.id)
			}
			waiter.store.finals.arrived(tc.id, came.data, came.at)
		}
		r, ok, err := waiter.store.End(ctx, tc.id, time.Time{})
		if !tc.carried {
			if ok || err != nil {
				t.Fatalf("%s: a record over maxFinal came with its event: %v %v", tc.id, r, err)
			}
			continue
		}
		if !ok || err != nil || r.Status != runtime.RunFailed || r.Error != reason {
			t.Fatalf("%s: %+v %v %v", tc.id, r, ok, err)
		}
		if _, ok, _ := waiter.store.End(ctx, tc.id, time.Time{}); ok {
			t.Fatalf("%s: the event's record served twice", tc.id)
		}
		if _, err := waiter.Store().Get(ctx, tc.id); !errors.Is(err, driver.ErrRunNotFound) {
			t.Fatalf("%s: Get answered from the event's record: %v", tc.id, err)
		}
	}
}
