package gatehouse

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	// revocationFullPage is the server's page size: a page this long may
	// have more behind it, so the poller asks again at once.
	revocationFullPage = 1000
	// maxPagesPerPoll bounds the catch-up reads of one poll.
	maxPagesPerPoll = 50
	// pruneEvery is how often expired entries are dropped.
	pruneEvery = time.Minute
)

// revocations holds the ids of sessions that ended, with their end times.
// Verify reads it without taking a lock (sync.Map suits keys written once
// and read many times); only the poller writes.
type revocations struct {
	set sync.Map // sid -> time.Time

	// Owned by the poller (the synchronous first poll happens before the
	// poller goroutine starts).
	cursor    string
	nextPrune time.Time
	failing   bool
	answered  bool // the feed has answered at least once
}

func (r *revocations) isRevoked(sid string) bool {
	_, ok := r.set.Load(sid)
	return ok
}

// revocationItem is one entry of GET /v1/revocations.
type revocationItem struct {
	SID       string    `json:"sid"`
	RevokedAt time.Time `json:"revoked_at"`
}

type revocationPage struct {
	Revocations []revocationItem `json:"revocations"`
	Cursor      string           `json:"cursor"`
}

// merge adds items, and once per pruneEvery drops entries older than
// keep (every token of such a session has expired).
func (r *revocations) merge(items []revocationItem, keep time.Duration, now time.Time) {
	for _, it := range items {
		if it.SID == "" {
			continue
		}
		at := it.RevokedAt
		if at.IsZero() || at.After(now) {
			at = now // unknown or skewed time: remember it for the full span
		}
		if now.Sub(at) > keep {
			continue
		}
		if prev, ok := r.set.Load(it.SID); !ok || at.After(prev.(time.Time)) {
			r.set.Store(it.SID, at)
		}
	}
	if now.Before(r.nextPrune) {
		return
	}
	r.set.Range(func(sid, at any) bool {
		if now.Sub(at.(time.Time)) > keep {
			r.set.Delete(sid)
		}
		return true
	})
	r.nextPrune = now.Add(pruneEvery)
}

// pollOnce reads the revocations since the cursor, following full pages.
// It returns keep=false when the server has no revocation endpoint (a 404
// before any successful answer), and the server's Retry-After, if any.
func (v *Verifier) pollOnce(ctx context.Context) (keep bool, retryAfter time.Duration) {
	for range maxPagesPerPoll {
		u := v.s.revURL
		if v.rev.cursor != "" {
			u += "?since=" + url.QueryEscape(v.rev.cursor)
		}
		var page revocationPage
		_, err := v.client.getJSON(ctx, u, &page)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound && !v.rev.answered {
				// An older server: no revocation feed. Nothing to warn
				// about; tokens are simply valid until they expire. (A
				// 404 from a feed that has answered before, say from a
				// load balancer mid-deploy, is an error like any other.)
				return false, 0
			}
			if ctx.Err() != nil {
				return true, 0
			}
			if !v.rev.failing {
				v.s.log.WarnContext(ctx, "gatehouse: revocation poll failed; revoked sessions are not seen until it works again", "err", err)
			}
			v.rev.failing = true
			if ae != nil {
				retryAfter = ae.RetryAfter
			}
			return true, retryAfter
		}
		v.rev.answered = true
		if v.rev.failing {
			v.s.log.InfoContext(ctx, "gatehouse: revocation poll works again")
			v.rev.failing = false
		}
		v.rev.merge(page.Revocations, v.s.RevokedTTL+v.s.leeway, time.Now())
		moved := page.Cursor != "" && page.Cursor != v.rev.cursor
		if page.Cursor != "" {
			v.rev.cursor = page.Cursor
		}
		if len(page.Revocations) < revocationFullPage || !moved {
			return true, 0
		}
	}
	return true, 0
}

// pollLoop polls every RevocationPoll (or after the server's Retry-After,
// when longer) until ctx is done or the server turns out to have no feed.
func (v *Verifier) pollLoop(ctx context.Context) {
	t := time.NewTimer(v.s.RevocationPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		keep, after := v.pollOnce(ctx)
		if !keep {
			return
		}
		t.Reset(max(v.s.RevocationPoll, after))
	}
}
