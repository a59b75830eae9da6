// SPDX-License-Identifier: Apache-2.0

package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskwire/taskwire/runtime/driver"
)

var _ driver.LiveLister = (*Broker)(nil)

// LiveMessages implements driver.LiveLister: the Nats-Msg-Id of every
// message in the work-queue stream (a message stays there until it is
// acknowledged or terminated), read one message per request with
// next-by-subject gets, which skip the acknowledged gaps on the server.
func (b *Broker) LiveMessages(ctx context.Context) (map[string]bool, error) {
	name, err := b.js.StreamNameBySubject(ctx, b.subject)
	if err != nil {
		return nil, fmt.Errorf("natsjs: live messages: %w", err)
	}
	stream, err := b.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("natsjs: live messages: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsjs: live messages: %w", err)
	}
	live := make(map[string]bool, info.State.Msgs)
	if info.State.Msgs == 0 {
		return live, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("natsjs: live messages: %w", err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
			live[id] = true
		}
		seq = m.Sequence + 1
	}
	return live, nil
}
