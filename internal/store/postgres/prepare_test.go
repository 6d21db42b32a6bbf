package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/pgtest"
)

// prepareCounter counts explicit statement preparations (database/sql's
// Prepare through pgx's stdlib adapter); pgx's own statement cache does not
// pass through here.
type prepareCounter struct{ n atomic.Int64 }

func (c *prepareCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *prepareCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
func (c *prepareCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (c *prepareCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestHotQueriesAreNotPreparedPerUse: the session check and the login's
// writes run many times on the pool's connections without preparing a
// statement each time. database/sql over a pgx pool keeps no idle
// connection, so a *sql.Stmt was prepared again (a round trip and a parse)
// and deallocated (another round trip) on every use, which made a session
// lookup four times slower; pgx's per-connection cache prepares each text
// once per connection.
func TestHotQueriesAreNotPreparedPerUse(t *testing.T) {
	ctx := context.Background()
	var pc prepareCounter
	st, err := open(ctx, pgtest.NewDatabase(t), func(c *pgxpool.Config) { c.ConnConfig.Tracer = &pc })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	u := store.User{Email: "p@example.com", EmailNormalized: "p@example.com", Status: store.UserActive, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, &u, []string{"viewer"}, nil); err != nil {
		t.Fatal(err)
	}
	base := pc.n.Load()
	const rounds = 30
	for i := 0; i < rounds; i++ {
		if _, err := st.GetUserByEmail(ctx, "p@example.com"); err != nil {
			t.Fatal(err)
		}
		sess := store.Session{UserID: u.ID, TokenHash: secret.Digest(secret.MustToken().Reveal()), Status: store.SessionActive,
			CreatedAt: now, UpdatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
		rt := store.RefreshToken{TokenHash: secret.Digest(secret.MustToken().Reveal()), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := st.CreateLoginSession(ctx, &sess, &rt, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.GetSessionByTokenHash(ctx, sess.TokenHash); err != nil {
			t.Fatal(err)
		}
	}
	if n := pc.n.Load() - base; n >= rounds {
		t.Fatalf("%d statement preparations for %d rounds of lookups and session writes: the hot queries are prepared on every use", n, rounds)
	}
}
