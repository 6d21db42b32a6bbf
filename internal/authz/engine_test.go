package authz_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
)

func newEngine(t testing.TB, now func() time.Time) (*authz.Engine, *sqlstore.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := authz.NewEngine(st, authz.NewRBAC(st), now)
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// A Wednesday at 10:00 UTC and a Saturday at 22:00 UTC.
var (
	workday = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	weekend = time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
)

func TestCheck(t *testing.T) {
	clock := workday
	e, st := newEngine(t, func() time.Time { return clock })
	ctx := context.Background()
	if err := st.CreateRelation(ctx, &store.Relation{SubjectType: "user", SubjectID: "john", Permission: "posts.update", ResourceType: "post", ResourceID: "42"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRelation(ctx, &store.Relation{SubjectType: "role", SubjectID: "viewer", Permission: "posts.delete", ResourceType: "post", ResourceID: "7"}, nil); err != nil {
		t.Fatal(err)
	}
	viewer := authz.Subject{ID: "john", Roles: []string{"viewer"}}
	editor := authz.Subject{ID: "ed", Roles: []string{"editor"}}
	engineer := authz.Subject{ID: "eng", Roles: []string{"viewer"}, Attributes: map[string]any{"department": "engineering"}}
	sales := authz.Subject{ID: "sal", Roles: []string{"viewer"}, Attributes: map[string]any{"department": "sales"}}
	internalDoc := authz.Resource{Type: "document", ID: "d1", Attributes: map[string]any{"classification": "internal"}}
	tests := []struct {
		name   string
		req    authz.Request
		at     time.Time
		allow  bool
		reason string
	}{
		{"role grants", authz.Request{Subject: editor, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "1"}}, workday, true, `role "editor"`},
		{"default deny", authz.Request{Subject: viewer, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "1"}}, workday, false, "no role"},
		{"ACL tuple on one resource", authz.Request{Subject: viewer, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "42"}}, workday, true, "relation"},
		{"ACL tuple is per resource", authz.Request{Subject: viewer, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "43"}}, workday, false, ""},
		{"ACL tuple for a role", authz.Request{Subject: viewer, Action: "posts.delete", Resource: authz.Resource{Type: "post", ID: "7"}}, workday, true, "role viewer"},
		{"direct grant", authz.Request{Subject: authz.Subject{ID: "x", Permissions: []string{"reports.export"}}, Action: "reports.export", Resource: authz.Resource{Type: "report"}}, workday, true, "directly"},
		{"owner edits own post", authz.Request{Subject: viewer, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "9", Attributes: map[string]any{"author_id": "john"}}}, workday, true, "authors-edit-own-posts"},
		{"not the owner", authz.Request{Subject: viewer, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "9", Attributes: map[string]any{"author_id": "someone"}}}, workday, false, ""},
		{"engineering reads internal docs in business hours", authz.Request{Subject: engineer, Action: "documents.read", Resource: internalDoc}, workday, true, "engineering-internal-docs"},
		{"not out of hours", authz.Request{Subject: engineer, Action: "documents.read", Resource: internalDoc}, weekend, false, ""},
		{"not another department", authz.Request{Subject: sales, Action: "documents.read", Resource: internalDoc}, workday, false, ""},
		{"missing attributes deny quietly", authz.Request{Subject: viewer, Action: "documents.read", Resource: authz.Resource{Type: "document"}}, workday, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = tt.at
			d, err := e.Check(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("got %+v, want allowed=%v with reason containing %q", d, tt.allow, tt.reason)
			}
		})
	}
}

func TestDenyBeatsAllow(t *testing.T) {
	e, st := newEngine(t, func() time.Time { return workday })
	ctx := context.Background()
	admin := authz.Subject{ID: "root", Roles: []string{"admin"}}
	req := authz.Request{Subject: admin, Action: "posts.delete", Resource: authz.Resource{Type: "post", ID: "1", Attributes: map[string]any{"locked": true}}}
	if d, _ := e.Check(ctx, req); !d.Allowed {
		t.Fatalf("admin cannot delete: %+v", d)
	}
	if _, err := e.Compile(`resource.attributes.locked == true`); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePolicy(ctx, &store.Policy{Name: "locked-posts", Effect: "deny", Actions: []string{"posts.delete"}, ResourceType: "post", Condition: `resource.attributes.locked == true`}, nil); err != nil {
		t.Fatal(err)
	}
	e.InvalidatePolicies()
	d, _ := e.Check(ctx, req)
	if d.Allowed || !strings.Contains(d.Reason, "locked-posts") {
		t.Fatalf("deny policy did not win over the admin role: %+v", d)
	}
	// A deny whose condition cannot be evaluated fails closed.
	_ = st.CreatePolicy(ctx, &store.Policy{Name: "needs-attr", Effect: "deny", Actions: []string{"posts.read"}, Condition: `resource.attributes.missing == 1`}, nil)
	e.InvalidatePolicies()
	if d, _ := e.Check(ctx, authz.Request{Subject: admin, Action: "posts.read", Resource: authz.Resource{Type: "post"}}); d.Allowed {
		t.Fatalf("erroring deny did not deny: %+v", d)
	}
}

func TestCompileErrors(t *testing.T) {
	e, _ := newEngine(t, nil)
	for _, c := range []string{"", "subject.id ==", "1 + 1", `nosuch.var == 1`, strings.Repeat("true && ", 1000) + "true"} {
		if _, err := e.Compile(c); err == nil {
			t.Errorf("condition %.40q compiled", c)
		}
	}
	// Hostile but well-typed conditions hit the cost limit at evaluation.
	if _, err := e.Compile(`[1,2,3].all(x, [1,2,3].all(y, [1,2,3].all(z, x+y+z > 0)))`); err != nil {
		t.Fatalf("valid condition refused: %v", err)
	}
}

func TestRoleChangeAppliesAtOnce(t *testing.T) {
	e, st := newEngine(t, nil)
	ctx := context.Background()
	rbac := authz.NewRBAC(st)
	e2, _ := authz.NewEngine(st, rbac, nil)
	req := authz.Request{Subject: authz.Subject{ID: "v", Roles: []string{"viewer"}}, Action: "posts.create", Resource: authz.Resource{Type: "post"}}
	if d, _ := e2.Check(ctx, req); d.Allowed {
		t.Fatal("viewer can create posts")
	}
	if _, err := st.UpdateRole(ctx, "viewer", nil, []string{"users.read", "posts.read", "posts.create"}, nil); err != nil {
		t.Fatal(err)
	}
	rbac.Invalidate()
	if d, _ := e2.Check(ctx, req); !d.Allowed {
		t.Fatalf("role change not applied on the next check: %+v", d)
	}
	_ = e
}

func benchEngine(b *testing.B, tuples int) (*authz.Engine, context.Context) {
	e, st := newEngine(b, func() time.Time { return workday })
	ctx := context.Background()
	if tuples > 0 {
		seedTuples(b, st, tuples)
	}
	return e, ctx
}

func BenchmarkCheckRBAC(b *testing.B) {
	e, ctx := benchEngine(b, 0)
	req := authz.Request{Subject: authz.Subject{ID: "u", Roles: []string{"editor"}}, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: "1"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, _ := e.Check(ctx, req); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCheckCEL(b *testing.B) {
	e, ctx := benchEngine(b, 0)
	req := authz.Request{Subject: authz.Subject{ID: "john", Roles: []string{"viewer"}}, Action: "posts.update",
		Resource: authz.Resource{Type: "post", ID: "9", Attributes: map[string]any{"author_id": "john"}}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, _ := e.Check(ctx, req); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCheckACL(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 100_000 && testing.Short() {
				b.Skip("-short")
			}
			e, ctx := benchEngine(b, n)
			req := authz.Request{Subject: authz.Subject{ID: "user-7", Roles: []string{"viewer"}}, Action: "posts.update", Resource: authz.Resource{Type: "post", ID: fmt.Sprint(n / 2)}}
			b.ResetTimer()
			for b.Loop() {
				if d, _ := e.Check(ctx, req); !d.Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}
