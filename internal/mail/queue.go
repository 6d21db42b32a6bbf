package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrQueueFull is returned by Enqueue when the queue holds Size messages;
// the message is dropped. Callers log it and carry on: the request's data
// is already committed and the user can ask for the mail again.
var ErrQueueFull = errors.New("mail queue is full")

// ErrQueueClosed is returned by Enqueue after Close has begun.
var ErrQueueClosed = errors.New("mail queue is closed")

// QueueOptions tunes a Queue; zero fields take the defaults.
type QueueOptions struct {
	Size       int           // messages waiting at most; default 1000
	Attempts   int           // sends per message, first included; default 5
	Backoff    time.Duration // wait after the first failure, doubled after each; default 1s
	MaxBackoff time.Duration // cap on one wait; default 1m
	Log        *slog.Logger  // nil discards
}

// Queue sends messages in the background, one at a time in order, so an
// HTTP answer never waits for a mail server. A failed send is retried
// with exponential backoff (1s, 2s, 4s, 8s with the defaults) unless the
// failure is permanent (errors.Is(err, ErrPermanent)); a message that
// still fails is logged and dropped. Messages live in memory only: a crash
// loses what is queued, which is acceptable because every mail Gatehouse
// sends can be requested again.
type Queue struct {
	sender Sender
	opts   QueueOptions
	log    *slog.Logger

	mu     sync.Mutex // guards closed and sending on ch
	closed bool
	ch     chan Message

	ctx    context.Context // ends when Close runs out of time
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker has returned
	lost   int           // messages abandoned by a cancelled Close; read after done
}

// NewQueue starts one worker goroutine that sends through s. Stop it with
// Close.
func NewQueue(s Sender, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = 1000
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = o.Backoff
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		sender: s, opts: o, log: o.Log,
		ch:  make(chan Message, o.Size),
		ctx: ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	go q.run()
	return q
}

// Enqueue hands m to the worker and returns at once; it never blocks.
// It returns an error satisfying errors.Is(err, ErrPermanent) for an
// invalid message, ErrQueueFull when the queue is full and ErrQueueClosed
// after Close; in each case m will not be sent.
func (q *Queue) Enqueue(m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.ch <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

// Len is the number of messages waiting (not counting one being sent).
func (q *Queue) Len() int { return len(q.ch) }

// Close stops accepting messages and waits while the worker sends what is
// queued, retries included. When ctx ends first, the send in progress is
// cancelled, the rest is dropped and logged, and Close returns an error
// wrapping ctx's once the worker has stopped. Calling Close again waits
// again.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel()
		<-q.done
		if q.lost == 0 { // the worker finished as ctx ended
			return nil
		}
		return fmt.Errorf("mail: queue closed with %d unsent messages: %w", q.lost, ctx.Err())
	}
}

// run is the worker: it sends every message until the channel is closed
// and empty, or drops them once Close has run out of time.
func (q *Queue) run() {
	defer close(q.done)
	dropped := 0
	for m := range q.ch {
		if q.ctx.Err() != nil {
			dropped++
			continue
		}
		if !q.deliver(m) {
			q.lost++
		}
	}
	if dropped > 0 {
		q.log.Error("mail queue closed with unsent mail", "dropped", dropped)
	}
	q.lost += dropped
}

// deliver sends m, retrying temporary failures; it logs the outcome and
// never the body. It returns true once m is settled (sent, or given up on)
// and false when Close cut it short.
func (q *Queue) deliver(m Message) bool {
	for attempt := 1; ; attempt++ {
		err := q.sender.Send(q.ctx, m)
		if err == nil {
			q.log.Debug("mail sent", "to", m.To, "kind", m.Kind, "attempt", attempt)
			return true
		}
		switch {
		case errors.Is(err, ErrPermanent):
			q.log.Error("mail not sent: permanent failure",
				"to", m.To, "kind", m.Kind, "attempt", attempt, "error", err)
			return true
		case attempt >= q.opts.Attempts:
			q.log.Error("mail not sent: giving up",
				"to", m.To, "kind", m.Kind, "attempts", attempt, "error", err)
			return true
		case q.ctx.Err() != nil:
			q.log.Error("mail not sent: queue closed",
				"to", m.To, "kind", m.Kind, "attempt", attempt, "error", err)
			return false
		}
		wait := q.backoff(attempt)
		q.log.Warn("mail send failed; will retry",
			"to", m.To, "kind", m.Kind, "attempt", attempt, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			q.log.Error("mail not sent: queue closed",
				"to", m.To, "kind", m.Kind, "attempt", attempt, "error", err)
			return false
		}
	}
}

// backoff is the wait after the given failed attempt: Backoff doubled
// attempt-1 times, capped at MaxBackoff.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opts.Backoff
	for i := 1; i < attempt && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.opts.MaxBackoff)
}
