package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSender is a transport double: it fails the first `fails` calls (all
// when fails < 0) with err, then records deliveries.
type fakeSender struct {
	mu    sync.Mutex
	fails int
	err   error
	calls int
	sent  []Message
	block chan struct{} // when set, each Send waits for it or ctx
	began chan struct{} // when set, receives once per Send
}

func (f *fakeSender) Send(ctx context.Context, m Message) error {
	if f.began != nil {
		f.began <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fails < 0 || f.calls <= f.fails {
		if f.err != nil {
			return f.err
		}
		return fmt.Errorf("temporary failure %d", f.calls)
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) counts() (calls, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, len(f.sent)
}

func closeQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestQueueRetries(t *testing.T) {
	tests := []struct {
		name      string
		sender    *fakeSender
		wantCalls int
		wantSent  int
		wantLog   string
	}{
		{"succeeds first time", &fakeSender{}, 1, 1, ""},
		{"fails twice then succeeds", &fakeSender{fails: 2}, 3, 1, "will retry"},
		{"always fails", &fakeSender{fails: -1}, 4, 0, "giving up"},
		{"permanent failure", &fakeSender{fails: -1, err: permanent(errors.New("550 no such user"))}, 1, 0, "permanent failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			q := NewQueue(tc.sender, QueueOptions{
				Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
				Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err := q.Enqueue(testMessage()); err != nil {
				t.Fatal(err)
			}
			closeQueue(t, q)
			calls, sent := tc.sender.counts()
			if calls != tc.wantCalls || sent != tc.wantSent {
				t.Errorf("calls %d sent %d, want %d %d", calls, sent, tc.wantCalls, tc.wantSent)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
			if strings.Contains(logs.String(), "token=") {
				t.Errorf("log leaks the link:\n%s", logs.String())
			}
		})
	}
}

func TestQueueBackoff(t *testing.T) {
	q := NewQueue(&fakeSender{}, QueueOptions{})
	defer closeQueue(t, q)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := q.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if q.opts.Size != 1000 || q.opts.Attempts != 5 {
		t.Errorf("defaults: %+v", q.opts)
	}
}

// Enqueue never waits: with the worker stuck and the buffer full it
// returns ErrQueueFull at once; Close then sends what was accepted.
func TestQueueFull(t *testing.T) {
	s := &fakeSender{block: make(chan struct{}), began: make(chan struct{}, 10)}
	q := NewQueue(s, QueueOptions{Size: 2})
	if err := q.Enqueue(testMessage()); err != nil {
		t.Fatal(err)
	}
	<-s.began // the worker holds message 1; the buffer is empty
	for i := range 2 {
		if err := q.Enqueue(testMessage()); err != nil {
			t.Fatalf("Enqueue %d: %v", i+2, err)
		}
	}
	start := time.Now()
	if err := q.Enqueue(testMessage()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue on a full queue = %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Enqueue blocked for %v", d)
	}
	if q.Len() != 2 {
		t.Errorf("Len = %d", q.Len())
	}
	close(s.block)
	closeQueue(t, q)
	if _, sent := s.counts(); sent != 3 {
		t.Errorf("sent %d, want 3", sent)
	}
}

func TestQueueCloseDrains(t *testing.T) {
	s := &fakeSender{fails: 1}
	q := NewQueue(s, QueueOptions{Backoff: 5 * time.Millisecond})
	for i := range 20 {
		m := testMessage()
		m.Subject = fmt.Sprintf("mail %d", i)
		if err := q.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	closeQueue(t, q)
	if _, sent := s.counts(); sent != 20 {
		t.Fatalf("sent %d, want 20", sent)
	}
	for i, m := range s.sent {
		if m.Subject != fmt.Sprintf("mail %d", i) {
			t.Errorf("mail %d out of order: %q", i, m.Subject)
		}
	}
	if err := q.Enqueue(testMessage()); !errors.Is(err, ErrQueueClosed) {
		t.Errorf("Enqueue after Close = %v", err)
	}
	closeQueue(t, q) // a second Close is harmless
}

// When Close runs out of time it cancels the send in progress, drops the
// rest, logs how many, and reports ctx's error.
func TestQueueCloseTimeout(t *testing.T) {
	var logs bytes.Buffer
	s := &fakeSender{block: make(chan struct{})}
	q := NewQueue(s, QueueOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if err := q.Enqueue(testMessage()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := q.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 unsent") {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, sent := s.counts(); sent != 0 {
		t.Errorf("sent %d", sent)
	}
	if !strings.Contains(logs.String(), "dropped=2") || !strings.Contains(logs.String(), "queue closed") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// An idle queue closes cleanly even with a context that has already
// ended: nothing was lost.
func TestQueueCloseIdle(t *testing.T) {
	for range 20 {
		q := NewQueue(&fakeSender{}, QueueOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := q.Close(ctx); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
}

func TestQueueRejectsInvalid(t *testing.T) {
	s := &fakeSender{}
	q := NewQueue(s, QueueOptions{})
	if err := q.Enqueue(Message{To: "a@example.com"}); !errors.Is(err, ErrPermanent) {
		t.Errorf("Enqueue without text = %v", err)
	}
	closeQueue(t, q)
	if calls, _ := s.counts(); calls != 0 {
		t.Errorf("invalid message was sent")
	}
}
