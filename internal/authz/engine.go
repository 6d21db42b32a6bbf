package authz

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/google/cel-go/cel"
)

// Store is what the engine reads besides the role table.
type Store interface {
	RoleStore
	FindRelation(ctx context.Context, subjects []store.Subject, permission, resourceType, resourceID string) (store.Relation, bool, error)
	RelationKinds(ctx context.Context) ([][2]string, error)
	ListPolicies(ctx context.Context) ([]store.Policy, error)
}

// Subject is who asks: a user with roles, direct permissions and
// attributes (department, ...).
type Subject struct {
	// Suspended subjects are denied everything.
	Suspended   bool
	ID          string
	Email       string
	Roles       []string
	Permissions []string
	Attributes  map[string]any
}

// SubjectFromUser builds the subject of a stored user.
func SubjectFromUser(u store.User) Subject {
	return Subject{ID: u.ID, Email: u.EmailNormalized, Roles: u.Roles, Permissions: u.Permissions, Attributes: u.Attributes,
		Suspended: u.Status != store.UserActive}
}

// Resource is what the action is on; ID and Attributes may be empty.
type Resource struct {
	Type       string
	ID         string
	Attributes map[string]any
}

// Request is one question: may Subject do Action on Resource?
type Request struct {
	Subject  Subject
	Action   string
	Resource Resource
	Context  map[string]any
}

// Decision is the answer and what decided it.
type Decision struct {
	Allowed bool
	Reason  string
}

// Engine evaluates checks from roles, direct grants, ACL tuples and CEL
// policies. Deny policies are evaluated first and beat every allow;
// nothing is allowed unless something grants it (Z15). Role data and
// compiled policies are cached and reloaded on invalidation, so the
// common check costs no query; only an ACL lookup reads the store.
type Engine struct {
	st       Store
	rbac     *RBAC
	env      *cel.Env
	now      func() time.Time
	policies atomic.Pointer[policySet]
	kinds    atomic.Pointer[relationKinds]
	mu       sync.Mutex
}

// relationKinds is the set of (resource type, permission) pairs that have
// tuples, with when it was loaded. A check whose pair is absent needs no
// lookup. The set is reloaded when this process changes relations, and
// at least every kindsTTL, so a tuple added by another process for a new
// pair is seen within that time (a late allow, never a late deny).
type relationKinds struct {
	set    map[[2]string]bool
	loaded time.Time
}

const kindsTTL = 30 * time.Second

// InvalidateRelations makes the next check reload the relation kinds.
func (e *Engine) InvalidateRelations() { e.kinds.Store(nil) }

func (e *Engine) mayHaveRelation(ctx context.Context, resourceType, permission string) (bool, error) {
	k := e.kinds.Load()
	if k == nil || e.now().Sub(k.loaded) > kindsTTL {
		list, err := e.st.RelationKinds(ctx)
		if err != nil {
			return false, err
		}
		k = &relationKinds{set: make(map[[2]string]bool, len(list)), loaded: e.now()}
		for _, p := range list {
			k.set[p] = true
		}
		e.kinds.Store(k)
	}
	return k.set[[2]string{resourceType, permission}], nil
}

// compiledPolicy is a stored policy with its program.
type compiledPolicy struct {
	store.Policy
	prg     cel.Program
	actions map[string]bool
}

type policySet struct {
	deny, allow []compiledPolicy
	loaded      time.Time
}

// maxConditionCost bounds the work one condition may do per evaluation.
const maxConditionCost = 10_000

// ErrBadCondition wraps a CEL compile or type error.
var ErrBadCondition = errors.New("invalid policy condition")

// NewEngine builds the engine and its CEL environment.
func NewEngine(st Store, rbac *RBAC, now func() time.Time) (*Engine, error) {
	env, err := cel.NewEnv(
		cel.Variable("subject", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("resource", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("action", cel.StringType),
		cel.Variable("context", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Engine{st: st, rbac: rbac, env: env, now: now}, nil
}

// Compile type-checks a condition and returns its program. Errors carry
// the compiler's message and wrap ErrBadCondition.
func (e *Engine) Compile(condition string) (cel.Program, error) {
	if strings.TrimSpace(condition) == "" {
		return nil, fmt.Errorf("%w: the condition is empty", ErrBadCondition)
	}
	if len(condition) > 4096 {
		return nil, fmt.Errorf("%w: the condition is longer than 4096 characters", ErrBadCondition)
	}
	ast, iss := e.env.Compile(condition)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadCondition, iss.Err())
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("%w: the condition must be a boolean, not %s", ErrBadCondition, t)
	}
	prg, err := e.env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(maxConditionCost))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadCondition, err)
	}
	return prg, nil
}

// InvalidatePolicies drops the compiled policies; the next check reloads.
func (e *Engine) InvalidatePolicies() { e.policies.Store(nil) }

func (e *Engine) loadPolicies(ctx context.Context) (*policySet, error) {
	if ps := e.policies.Load(); ps != nil && e.now().Sub(ps.loaded) < snapshotTTL {
		return ps, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ps := e.policies.Load(); ps != nil && e.now().Sub(ps.loaded) < snapshotTTL {
		return ps, nil
	}
	stored, err := e.st.ListPolicies(ctx)
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	ps := &policySet{loaded: e.now()}
	for _, p := range stored {
		prg, err := e.Compile(p.Condition)
		if err != nil {
			// Saved policies were compiled at save time; one that no longer
			// compiles must not open anything, and a deny must not vanish.
			prg = nil
		}
		cp := compiledPolicy{Policy: p, prg: prg, actions: map[string]bool{}}
		for _, a := range p.Actions {
			cp.actions[a] = true
		}
		if p.Effect == "deny" {
			ps.deny = append(ps.deny, cp)
		} else {
			ps.allow = append(ps.allow, cp)
		}
	}
	e.policies.Store(ps)
	return ps, nil
}

func (p *compiledPolicy) matches(req Request) bool {
	if p.ResourceType != "" && p.ResourceType != "*" && p.ResourceType != req.Resource.Type {
		return false
	}
	return p.actions[req.Action] || p.actions["*"]
}

// activation is the CEL input of a request.
func (e *Engine) activation(req Request) map[string]any {
	ctxMap := make(map[string]any, len(req.Context)+1)
	for k, v := range req.Context {
		ctxMap[k] = v
	}
	ctxMap["now"] = e.now().UTC() // supplied by the server, never the caller
	roles := req.Subject.Roles
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{
		"subject":  map[string]any{"id": req.Subject.ID, "email": req.Subject.Email, "roles": roles, "attributes": orEmpty(req.Subject.Attributes)},
		"resource": map[string]any{"type": req.Resource.Type, "id": req.Resource.ID, "attributes": orEmpty(req.Resource.Attributes)},
		"action":   req.Action,
		"context":  ctxMap,
	}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// eval runs a policy's condition. ok reports a true result; an error
// (a missing attribute, the cost limit) is reported separately.
func (p *compiledPolicy) eval(act map[string]any) (bool, error) {
	if p.prg == nil {
		return false, errors.New("condition does not compile")
	}
	out, _, err := p.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition returned %T, not a boolean", out.Value())
	}
	return b, nil
}

// Check answers one request.
func (e *Engine) Check(ctx context.Context, req Request) (Decision, error) {
	if req.Subject.Suspended {
		return Decision{Reason: "the subject's account is suspended"}, nil
	}
	ps, err := e.loadPolicies(ctx)
	if err != nil {
		return Decision{}, err
	}
	var act map[string]any
	input := func() map[string]any {
		if act == nil {
			act = e.activation(req)
		}
		return act
	}
	// 1. Deny policies beat everything. A deny whose condition cannot be
	// evaluated applies: fail closed.
	for i := range ps.deny {
		p := &ps.deny[i]
		if !p.matches(req) {
			continue
		}
		ok, err := p.eval(input())
		if err != nil {
			return Decision{Reason: fmt.Sprintf("denied by policy %q (its condition could not be evaluated: %v)", p.Name, err)}, nil
		}
		if ok {
			return Decision{Reason: fmt.Sprintf("denied by policy %q", p.Name)}, nil
		}
	}
	// 2. Roles.
	role, ok, err := e.rbac.GrantingRole(ctx, req.Subject.Roles, req.Action)
	if err != nil {
		return Decision{}, err
	}
	if ok {
		return Decision{Allowed: true, Reason: `role "` + role + `" grants ` + req.Action}, nil
	}
	// 3. Direct grants.
	for _, p := range req.Subject.Permissions {
		if p == req.Action {
			return Decision{Allowed: true, Reason: "permission " + req.Action + " is granted to the user directly"}, nil
		}
	}
	// 4. Allow policies (no query).
	for i := range ps.allow {
		p := &ps.allow[i]
		if !p.matches(req) {
			continue
		}
		if ok, err := p.eval(input()); err == nil && ok {
			return Decision{Allowed: true, Reason: `allowed by policy "` + p.Name + `"`}, nil
		}
	}
	// 5. ACL tuples on this resource (one indexed lookup).
	may := false
	if req.Resource.ID != "" && req.Subject.ID != "" {
		var err error
		if may, err = e.mayHaveRelation(ctx, req.Resource.Type, req.Action); err != nil {
			return Decision{}, err
		}
	}
	if may {
		subjects := make([]store.Subject, 0, len(req.Subject.Roles)+1)
		subjects = append(subjects, store.Subject{Type: "user", ID: req.Subject.ID})
		for _, r := range req.Subject.Roles {
			subjects = append(subjects, store.Subject{Type: "role", ID: r})
		}
		rel, ok, err := e.st.FindRelation(ctx, subjects, req.Action, req.Resource.Type, req.Resource.ID)
		if err != nil {
			return Decision{}, err
		}
		if ok {
			return Decision{Allowed: true, Reason: fmt.Sprintf("relation grants %s on %s %s to %s %s", req.Action, req.Resource.Type, req.Resource.ID, rel.SubjectType, rel.SubjectID)}, nil
		}
	}
	return Decision{Reason: fmt.Sprintf("no role, direct grant, relation or policy allows %s", req.Action)}, nil
}

// Policies returns the stored policies (for the admin API).
func (e *Engine) Policies(ctx context.Context) ([]store.Policy, error) {
	ps, err := e.loadPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]store.Policy, 0, len(ps.deny)+len(ps.allow))
	for _, p := range append(append([]compiledPolicy{}, ps.deny...), ps.allow...) {
		out = append(out, p.Policy)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
