// SPDX-License-Identifier: Apache-2.0

package natsjs

import "testing"

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
