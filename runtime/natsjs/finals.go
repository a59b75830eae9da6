// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"sync"
	"time"
)

// A run's last record travels with its run-ended event, so that the
// engine waiting for the run (Engine.Run, Engine.Wait) has it without a
// read of its own: the process that ends a run keeps the record it stored
// for the Bus, which appends it to the event's JSON under recordField;
// the Bus of each subscribing process hands it to its Store, whose End
// (driver.EndReader) gives it to the wait that the event woke. That wait
// returns the run as that end left it, which is what it waited for, even
// if a requeue has reopened the run since. Other reads (Get) always read
// the bucket. A record is taken once, and serves for finalTTL at most.

// recordField names the record in an event message's JSON.
const recordField = "taskwire_record"

// maxFinal is the largest record an event carries: larger ones are read.
const maxFinal = 16 << 10

// finalTTL is how long a record that came with an event serves a Get.
const finalTTL = 2 * time.Second

// maxFinals bounds each of the two sets of records finals keeps.
const maxFinals = 1024

// finals holds the records of runs that ended: those this process stored
// and has not yet published the end of (ending), and those that came with
// run-ended events (came).
type finals struct {
	mu     sync.Mutex
	ending map[string][]byte
	came   map[string]finalEntry
}

type finalEntry struct {
	data []byte
	at   time.Time
}

// stored keeps the record data that ended run id, for its event.
func (f *finals) stored(id string, data []byte) {
	if len(data) > maxFinal {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ending == nil {
		f.ending = make(map[string][]byte)
	}
	if len(f.ending) >= maxFinals { // events not published (a failed publish): any entry goes
		for k := range f.ending {
			delete(f.ending, k)
			break
		}
	}
	f.ending[id] = data
}

// forPublish takes the record stored for run id's end, or nil.
func (f *finals) forPublish(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	data := f.ending[id]
	delete(f.ending, id)
	return data
}

// arrived keeps a record that came with run id's ended event; nil (an
// event without one) drops the record of an earlier end of the run (a run
// requeued and ended again).
func (f *finals) arrived(id string, data []byte, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if data == nil {
		delete(f.came, id)
		return
	}
	if f.came == nil {
		f.came = make(map[string]finalEntry)
	}
	if len(f.came) >= maxFinals {
		for k, e := range f.came {
			if now.Sub(e.at) >= finalTTL {
				delete(f.came, k)
			}
		}
		if len(f.came) >= maxFinals {
			return
		}
	}
	f.came[id] = finalEntry{data: data, at: now}
}

// take takes the record that came with run id's ended event, if it is
// less than finalTTL old.
func (f *finals) take(id string, now time.Time) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.came[id]
	if !ok {
		return nil, false
	}
	delete(f.came, id)
	return e.data, now.Sub(e.at) < finalTTL
}
