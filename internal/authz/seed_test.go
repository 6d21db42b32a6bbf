package authz_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
)

// seedTuples stores n ACL tuples: user-(i%1000) may posts.update post i,
// plus the tuple the benchmarks look up (user-7 on post n/2).
func seedTuples(tb testing.TB, st *sqlstore.Store, n int) {
	tb.Helper()
	if err := st.BulkInsertRelations(context.Background(), n, func(i int) store.Relation {
		sub := fmt.Sprintf("user-%d", i%1000)
		if i == n/2 {
			sub = "user-7"
		}
		return store.Relation{SubjectType: "user", SubjectID: sub, Permission: "posts.update", ResourceType: "post", ResourceID: fmt.Sprint(i)}
	}); err != nil {
		tb.Fatal(err)
	}
}
