package fanout_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fanout"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
)

func TestEventsReachOtherReplicasOnly(t *testing.T) {
	c, prefix := redistest.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := fanout.NewRedis(c, prefix+"events", nil)
	b := fanout.NewRedis(c, prefix+"events", nil)
	gotA, gotB := make(chan fanout.Event, 4), make(chan fanout.Event, 4)
	readyA, readyB := make(chan struct{}), make(chan struct{})
	go a.Run(ctx, readyA, func(ev fanout.Event) { gotA <- ev })
	go b.Run(ctx, readyB, func(ev fanout.Event) { gotB <- ev })
	<-readyA
	<-readyB
	if err := a.Publish(ctx, fanout.Event{Sessions: []string{"s1", "s2"}, User: "u1", Authz: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-gotB:
		if len(ev.Sessions) != 2 || ev.User != "u1" || !ev.Authz {
			t.Fatalf("replica b got %+v", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("event did not reach the other replica")
	}
	select {
	case ev := <-gotA:
		t.Fatalf("replica a received its own event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}
