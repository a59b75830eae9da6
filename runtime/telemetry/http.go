// SPDX-License-Identifier: Apache-2.0

package telemetry

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The request metrics are counted on the hot path of every request, from
// many goroutines on every core. A Prometheus counter or histogram is one
// set of atomic words that all cores contend for; here each route keeps
// shards of them, a request picks one at random (math/rand/v2's generator
// is per thread: no contention), and a scrape sums the shards. The
// exposition is the same as a CounterVec and a HistogramVec would give.

// shards is the number of shards per route: a few per core of a small
// machine, so that two requests rarely share one.
const shards = 8

// nRequestBuckets is the number of bounds of requestBuckets, a constant
// for the arrays of the shards.
const nRequestBuckets = 15

// maxCodes bounds the distinct status codes a route counts apart; further
// ones (a route cannot answer that many) are counted under the last slot's
// code.
const maxCodes = 24

// routeShard is one shard of a route's counts, padded to its own cache
// lines.
type routeShard struct {
	codes   [maxCodes]atomic.Uint64 // by code slot
	buckets [nRequestBuckets + 1]atomic.Uint64
	sumNs   atomic.Uint64
	_       [64]byte
}

// httpCollector collects http_requests_total and
// http_request_duration_seconds from the routes' shards.
type httpCollector struct {
	requests, duration *prometheus.Desc

	mu     sync.Mutex
	routes []*Route // in creation order
}

func newHTTPCollector() *httpCollector {
	return &httpCollector{
		requests: prometheus.NewDesc(Namespace+"_http_requests_total", "HTTP requests answered, by route (operation id) and status code.", []string{"route", "code"}, nil),
		duration: prometheus.NewDesc(Namespace+"_http_request_duration_seconds", "Time from a request's arrival to its answer, by route.", []string{"route"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *httpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.duration
}

// Collect implements prometheus.Collector.
func (c *httpCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	routes := append([]*Route(nil), c.routes...)
	c.mu.Unlock()
	for _, r := range routes {
		codes := r.codeList()
		for slot, code := range codes {
			var n uint64
			for i := range r.shards {
				n += r.shards[i].codes[slot].Load()
			}
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), r.name, strconv.Itoa(code))
			}
		}
		var count, sumNs uint64
		var per [nRequestBuckets + 1]uint64
		for i := range r.shards {
			s := &r.shards[i]
			for b := range s.buckets {
				per[b] += s.buckets[b].Load()
			}
			sumNs += s.sumNs.Load()
		}
		cumulative := make(map[float64]uint64, len(requestBuckets))
		for b, le := range requestBuckets {
			count += per[b]
			cumulative[le] = count
		}
		count += per[len(requestBuckets)]
		ch <- prometheus.MustNewConstHistogram(c.duration, count, float64(sumNs)/1e9, cumulative, r.name)
	}
}

// codeSlot returns the slot of status code in r's counts.
func (r *Route) codeSlot(code int) int {
	if v, ok := r.slots.Load(code); ok {
		return v.(int)
	}
	r.slotMu.Lock()
	defer r.slotMu.Unlock()
	if v, ok := r.slots.Load(code); ok {
		return v.(int)
	}
	n := len(r.codes)
	if n == maxCodes {
		return maxCodes - 1
	}
	r.codes = append(r.codes, code)
	r.slots.Store(code, n)
	return n
}

// codeList returns the codes of r's slots, in slot order.
func (r *Route) codeList() []int {
	r.slotMu.Lock()
	defer r.slotMu.Unlock()
	return append([]int(nil), r.codes...)
}

// Request counts a request answered with code after took.
func (r *Route) Request(code int, took time.Duration) {
	s := &r.shards[rand.Uint32()%shards]
	s.codes[r.codeSlot(code)].Add(1)
	s.buckets[bucketOf(took)].Add(1)
	if took > 0 {
		s.sumNs.Add(uint64(took))
	}
}

// bucketOf returns the index of the first bucket whose bound holds took
// (len(requestBuckets) for +Inf).
func bucketOf(took time.Duration) int {
	secs := took.Seconds()
	return sort.SearchFloat64s(requestBuckets[:], secs)
}
