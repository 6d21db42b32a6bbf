package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// RevocationFeed is the store read behind GET /v1/revocations.
type RevocationFeed interface {
	EndedSessions(ctx context.Context, since time.Time, limit int) ([]store.EndedSession, error)
}

const (
	revocationPage    = 1000
	revocationDefault = time.Hour      // first call without a cursor
	revocationMaxAge  = 24 * time.Hour // oldest cursor served
	// revocationSettle is how far behind the present a cursor stays. A
	// session's end time is taken by the replica that ends it, before its
	// transaction commits, so an end committed late, or stamped by a
	// replica whose clock lags, may carry a time earlier than entries
	// already served; the feed repeats the last revocationSettle instead
	// of skipping such an entry (clients merge repeats).
	revocationSettle = 10 * time.Second
)

// handleRevocations lists sessions that ended (logout, revocation,
// suspension, password change, expiry) after the cursor, so resource
// servers verifying access tokens offline learn of them within their poll
// interval (J16/J17). Only session ids and times are shown: an ended
// session id is useless to anyone.
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(r, "revocations:ip:"+audit.MetaFrom(r.Context()).IP, s.rl().RevocationsPerIP); err != nil {
		return err
	}
	now := s.now()
	since := now.Add(-revocationDefault)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return validation.Errors{{Field: "since", Message: "must be the cursor of a previous answer (an RFC 3339 time)"}}
		}
		since = t
	}
	if oldest := now.Add(-revocationMaxAge); since.Before(oldest) {
		since = oldest
	}
	ended, err := s.d.Revocations.EndedSessions(r.Context(), since, revocationPage)
	if err != nil {
		return err
	}
	type item struct {
		SID       string    `json:"sid"`
		RevokedAt time.Time `json:"revoked_at"`
	}
	out := make([]item, 0, len(ended))
	cursor := since
	for _, e := range ended {
		out = append(out, item{SID: e.ID, RevokedAt: e.EndedAt})
		cursor = e.EndedAt
	}
	if len(ended) == revocationPage {
		// A full page may have cut through entries sharing the last
		// time: step back so the next page repeats rather than skips.
		cursor = cursor.Add(-time.Microsecond)
	} else if settled := now.Add(-revocationSettle); cursor.After(settled) {
		cursor = settled
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"revocations": out, "cursor": cursor.UTC().Format(time.RFC3339Nano)})
	return nil
}
