// Package fanout tells every replica about changes that must reach their
// in-memory caches at once (J16, S16, S19, Z16): ended sessions, users
// whose status, roles or grants changed, and changed roles, policies and
// relations. It uses Redis pub/sub; without Redis a single replica needs
// none of it. A lost message (Redis down) is bounded by the caches' own
// TTLs, so staleness never outlives them.
package fanout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// Event is one change. Origin names the replica that made it, so a
// replica ignores its own events (it already applied them).
type Event struct {
	Origin   string   `json:"o"`
	Sessions []string `json:"s,omitempty"`
	User     string   `json:"u,omitempty"`
	Authz    bool     `json:"a,omitempty"`
	Keys     bool     `json:"k,omitempty"` // the signing keys changed: reload them
}

// Redis publishes and receives events on one channel.
type Redis struct {
	rdb     redis.UniversalClient
	channel string
	origin  string
	log     *slog.Logger
}

// NewRedis returns a fan-out on rdb; every replica must use the same
// channel name.
func NewRedis(rdb redis.UniversalClient, channel string, log *slog.Logger) *Redis {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{rdb: rdb, channel: channel, origin: hex.EncodeToString(b), log: log}
}

// Publish sends ev to every other replica. Errors are returned for the
// caller to log; the change itself is already durable in the database.
func (r *Redis) Publish(ctx context.Context, ev Event) error {
	ev.Origin = r.origin
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := r.rdb.Publish(ctx, r.channel, b).Err(); err != nil {
		return fmt.Errorf("fan-out publish: %w", err)
	}
	return nil
}

// Run delivers other replicas' events to handle until ctx ends. ready is
// closed once the subscription is confirmed. go-redis reconnects and
// resubscribes by itself after Redis comes back.
func (r *Redis) Run(ctx context.Context, ready chan<- struct{}, handle func(Event)) {
	sub := r.rdb.Subscribe(ctx, r.channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil && ctx.Err() == nil {
		r.log.WarnContext(ctx, "fan-out subscribe", "err", err)
	}
	if ready != nil {
		close(ready)
	}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var ev Event
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
				r.log.WarnContext(ctx, "fan-out: bad message", "err", err)
				continue
			}
			if ev.Origin == r.origin {
				continue
			}
			handle(ev)
		}
	}
}
