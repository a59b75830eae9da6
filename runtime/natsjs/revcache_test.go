// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"slices"
	"testing"
	"time"

	"github.com/taskwire/taskwire/runtime"
	"github.com/taskwire/taskwire/runtime/driver"
)

// A record a task message carries is remembered only when it is newer than
// the one remembered, and never for a run known to have ended.
func TestRevCacheOffer(t *testing.T) {
	var c revCache
	c.offer("r1", []byte("a"), 5)
	if e, ok := c.get("r1"); !ok || e.rev != 5 {
		t.Fatalf("offer into an empty cache: %+v %v", e, ok)
	}
	c.offer("r1", []byte("old"), 3)
	if e, _ := c.get("r1"); e.rev != 5 || string(e.data) != "a" {
		t.Fatalf("an older record replaced a newer one: %+v", e)
	}
	c.offer("r1", []byte("b"), 7)
	if e, _ := c.get("r1"); e.rev != 7 {
		t.Fatalf("a newer record was not taken: %+v", e)
	}
	c.end("r1")
	if _, ok := c.get("r1"); ok {
		t.Fatal("an ended run is still remembered")
	}
	c.offer("r1", []byte("c"), 9)
	if _, ok := c.get("r1"); ok {
		t.Fatal("a record of an ended run was taken from a task message")
	}
	// The runs known to have ended are bounded: the oldest is let go.
	for i := range maxRevCache {
		c.end("x" + itoa(i))
	}
	c.offer("r1", []byte("d"), 11)
	if _, ok := c.get("r1"); !ok {
		t.Fatal("the ended-runs ring does not let its oldest entry go")
	}
	if len(c.ended) != maxRevCache {
		t.Fatalf("ended holds %d runs, want %d", len(c.ended), maxRevCache)
	}
}

// A record decoded by an update that only looked is kept for the next
// update of the same revision, taken by it, and dropped by any newer one.
func TestRevCacheKeepTake(t *testing.T) {
	var c revCache
	rec := &driver.RunRecord{ID: "r1"}
	c.put("r1", []byte("{}"), 4)
	c.keep("r1", 3, rec) // an older revision than remembered
	if e, _ := c.get("r1"); e.rec != nil {
		t.Fatal("a record of an older revision was kept")
	}
	c.keep("r1", 4, rec)
	if e, ok := c.take("r1"); !ok || e.rec != rec || e.rev != 4 {
		t.Fatalf("take: %+v %v", e, ok)
	}
	if e, ok := c.take("r1"); !ok || e.rec != nil || string(e.data) != "{}" {
		t.Fatalf("a kept record was taken twice, or the entry lost: %+v %v", e, ok)
	}
	c.keep("r1", 4, rec)
	c.put("r1", []byte("{}"), 5)
	if e, _ := c.take("r1"); e.rec != nil {
		t.Fatal("a newer revision kept the older decoded record")
	}
	c.keep("gone", 1, rec)
	if _, ok := c.get("gone"); ok {
		t.Fatal("keep made an entry")
	}
}

// The update after one that only looked (a task's start, then its end)
// starts from the record that one decoded, not from decoding it again;
// when another process wrote meanwhile, its swap fails and it starts
// again from the record as stored.
func TestUpdateStartsFromKeptRecord(t *testing.T) {
	s := startServer(t)
	ctx := testCtx(t, 30*time.Second)
	a, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other, err := Connect(ctx, s.ClientURL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	st := a.store
	rec := &driver.RunRecord{ID: "R1", PipelineID: "p", Status: runtime.RunPending, Values: map[string]runtime.Value{}, Tasks: []driver.TaskRecord{{Name: "t"}}}
	if _, _, err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var looked *driver.RunRecord
	look := func(r *driver.RunRecord) error { looked = r; return driver.ErrNoChangeAnyRevision }
	if err := st.Update(ctx, "R1", look); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, "R1", func(r *driver.RunRecord) error {
		if r != looked {
			t.Error("the update decoded the record again")
		}
		r.Tasks[0].Attempts = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Another process writes; this one's kept record is then stale.
	if err := st.Update(ctx, "R1", look); err != nil {
		t.Fatal(err)
	}
	if err := other.store.Update(ctx, "R1", func(r *driver.RunRecord) error { r.Tasks[0].Attempts = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	var tries []int
	if err := st.Update(ctx, "R1", func(r *driver.RunRecord) error {
		tries = append(tries, r.Tasks[0].Attempts)
		r.Tasks[0].Attempts++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tries, []int{1, 5}) {
		t.Fatalf("the update saw attempts %v, want the kept record's 1 and then the stored 5", tries)
	}
	got, err := st.Record(ctx, "R1")
	if err != nil || got.Tasks[0].Attempts != 6 {
		t.Fatalf("stored: %+v %v", got, err)
	}
}
