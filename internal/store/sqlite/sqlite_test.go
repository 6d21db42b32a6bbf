package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// TestReopenKeepsData checks migrations are idempotent and data survives a
// restart on a real file.
func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "John@Example.com", EmailNormalized: "john@example.com"}
	if err := st.CreateUser(ctx, u, []string{"viewer"}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	got, err := st2.GetUserByEmail(ctx, "john@example.com")
	if err != nil || got.ID != u.ID || len(got.Roles) != 1 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gatehouse.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	})
}
