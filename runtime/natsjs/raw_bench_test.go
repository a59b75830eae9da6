// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

// BenchmarkRawJetStream is the baseline of BenchmarkThroughput: JetStream
// alone, no taskwire code, on the task stream's configuration (work queue,
// file storage, the same duplicate window) with messages the size of a task
// message. Publishers keep messages in flight with asynchronous publishes
// (acks collected); two consumers, like two workers, pull in batches and
// ack each message. It reports acknowledged msgs/s end to end.
func BenchmarkRawJetStream(b *testing.B) {
	s := startServer(b)
	ctx := context.Background()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "RAW", Subjects: []string{"raw.tasks"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: DefaultDuplicateWindow,
	}); err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "RAW", jetstream.ConsumerConfig{
		Durable: "W", AckPolicy: jetstream.AckExplicitPolicy, AckWait: DefaultAckWait, MaxAckPending: 10000,
	})
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(driver.TaskMessage{RunID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", PipelineID: "noop3", Task: "n0", Index: -1})
	var acked atomic.Int64
	done := make(chan struct{})
	for range 2 { // two consumers on connections of their own, as two workers
		cnc, err := nats.Connect(s.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer cnc.Close()
		cjs, _ := jetstream.New(cnc)
		c, err := cjs.Consumer(ctx, "RAW", "W")
		if err != nil {
			b.Fatal(err)
		}
		cc, err := c.Consume(func(m jetstream.Msg) {
			_ = m.Ack()
			if acked.Add(1) == int64(b.N) {
				close(done)
			}
		}, jetstream.PullMaxMessages(256))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
	}
	_ = cons
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		msg := nats.NewMsg("raw.tasks")
		msg.Data = payload
		msg.Header.Set(jetstream.MsgIDHeader, "m"+itoa(i))
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publish acks did not come")
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d messages acked", acked.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}
