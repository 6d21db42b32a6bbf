package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/authz"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/emailflow"
	"github.com/gatehouse-auth/gatehouse/internal/fanout"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/keyset"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/sessioncache"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=v1.2.3".
var Version = "dev"

const usage = `gatehouse: an authentication and authorization server

Usage:
  gatehouse serve [flags]                       run the server (SQLite in --data-dir unless --database-url)
  gatehouse migrate [flags]                     apply database migrations and exit
  gatehouse users create --email E --password P [--role R]... [--name N]
  gatehouse users list [--query Q] [--limit N]
  gatehouse users import --file F.jsonl         import users (bcrypt, argon2id or legacy HMAC hashes)
  gatehouse version

Every flag has an environment twin: --data-dir is GATEHOUSE_DATA_DIR, and so on.
Run "gatehouse serve -h" for the server flags.
`

// Run is the whole program, testable: args exclude the program name.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return RunWith(ctx, Options{}, args, getenv, stdout, stderr)
}

// Options are what the program calling RunWith supplies beyond the command
// line.
type Options struct {
	// HashWorker is the command that starts a password-hash worker process:
	// the gatehouse binary with its "hash-worker" command, which runs
	// password.ServeWorker. When it is set, serve hashes in such processes
	// (unless password.in_process is true); when nil, in its goroutines.
	HashWorker []string
}

// HashWorkerCommand is the hidden command a program calling RunWith
// answers with HashWorker, and so the last word of Options.HashWorker.
const HashWorkerCommand = "hash-worker"

// HashWorker is the main of a password-hash worker process: it serves hash
// requests on stdin until the server closes it, and returns the exit
// code. Ctrl-C and SIGTERM reach the whole process group; the worker
// ignores them so that the server, shutting down gracefully, can still
// finish the logins in flight, and then ends the worker by closing its
// input.
func HashWorker(stdin io.Reader, stdout, stderr io.Writer) int {
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := password.ServeWorker(stdin, stdout, password.DefaultMaxMemory); err != nil {
		fmt.Fprintln(stderr, "gatehouse hash-worker:", err)
		return 1
	}
	return 0
}

// RunWith is Run with o.
func RunWith(ctx context.Context, o Options, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr, nil, o)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "users":
		return users(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "gatehouse", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := config.Load(fs, args, getenv)
	return c, fs, err
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens PostgreSQL when a URL is configured, else SQLite in the
// data dir; both run the migrations.
func openStore(ctx context.Context, c config.Config) (*sqlstore.Store, error) {
	if c.IsPostgres() {
		return postgres.Open(ctx, c.Database.URL.Reveal())
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return sqlite.Open(ctx, c.SQLitePath())
}

// masterKey returns the configured key, or on SQLite the generated key file.
func masterKey(c config.Config, log *slog.Logger) (keyset.MasterKey, error) {
	if !c.MasterKey.Empty() {
		mk, err := keyset.ParseMasterKey(c.MasterKey.Reveal())
		if err != nil {
			return keyset.MasterKey{}, fmt.Errorf("master-key: %w", err)
		}
		return mk, nil
	}
	if c.IsPostgres() {
		return keyset.MasterKey{}, errors.New("master-key: GATEHOUSE_MASTER_KEY (32 random bytes, base64) is required with PostgreSQL; every replica must use the same key (generate one with: head -c32 /dev/urandom | base64)")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return keyset.MasterKey{}, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(c.DataDir, "master.key")
	mk, created, err := keyset.LoadOrCreateMasterKeyFile(path)
	if err != nil {
		return keyset.MasterKey{}, fmt.Errorf("master key file: %w", err)
	}
	if created {
		log.Info("generated a master key for development; back it up or set GATEHOUSE_MASTER_KEY", "path", path)
	}
	return mk, nil
}

func passwordOptions(c config.Config) password.Options {
	p := password.DefaultParams()
	p.Memory, p.Iterations, p.Parallelism = c.Password.MemoryKiB, c.Password.Iterations, c.Password.Parallelism
	return password.Options{Params: p, Workers: c.Password.Workers, Queue: c.Password.Queue}
}

// core are the services every command shares.
type core struct {
	// fan tells other replicas about changes (nil without Redis).
	fan    *fanout.Redis
	rdb    *redis.Client
	engine *authz.Engine
	// notify receives account notices once the mail flows are wired
	// (nil for CLI commands, which send no mail).
	notify   *emailflow.Service
	cfg      config.Config
	log      *slog.Logger
	st       *sqlstore.Store
	hasher   *password.Hasher
	rbac     *authz.RBAC
	sessions *session.Service
	identity *identity.Service
}

// close ends the hash workers and closes the store.
func (co *core) close() error {
	if err := co.hasher.Close(); err != nil {
		co.log.Warn("hash workers did not exit cleanly", "err", err)
	}
	return co.st.Close()
}

// runtimeGODEBUG is the Go runtime setting Gatehouse's server and hash
// workers run with unless the operator chose otherwise in GODEBUG.
//
// madvdontneed=0 makes the runtime hand freed heap memory back to Linux
// with MADV_FREE instead of MADV_DONTNEED. Every password hash allocates
// and frees its argon2id memory (19 MiB by default); with MADV_DONTNEED the
// background scavenger returns those pages after each GC and the next hash
// faults them in again, page by page. Measured with gatehouse-bench on 2
// cores: login throughput 80 -> 92-95 per second and p99 130-144 ms ->
// 58-76 ms with 4 clients (docs/BENCHMARKS.md). The cost is that RSS
// counts freed pages until the kernel needs them.
const runtimeGODEBUG = "madvdontneed=0"

// runtimeGODEBUGOf returns godebug (a GODEBUG value) with runtimeGODEBUG
// added and true, or godebug unchanged and false when one of its settings
// already chooses madvdontneed: the operator's choice stands.
func runtimeGODEBUGOf(godebug string) (string, bool) {
	for _, setting := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(setting), "madvdontneed=") {
			return godebug, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return godebug + runtimeGODEBUG, true
}

// RuntimeEnviron returns environ with the variables drop names removed,
// then extra, then GODEBUG: the first GODEBUG of environ (the one in
// force; later ones are dropped) with runtimeGODEBUG added unless the
// operator's GODEBUG already chooses madvdontneed. changed reports
// whether it was added. Both the server's re-execution (cmd/gatehouse)
// and the hash workers' environment are built with it.
func RuntimeEnviron(environ []string, drop func(kv string) bool, extra ...string) (env []string, changed bool) {
	env = make([]string, 0, len(environ)+len(extra)+1)
	godebug, seen := "", false
	for _, kv := range environ {
		switch {
		case strings.HasPrefix(kv, "GODEBUG="):
			if !seen {
				godebug, seen = strings.TrimPrefix(kv, "GODEBUG="), true
			}
		case drop == nil || !drop(kv):
			env = append(env, kv)
		}
	}
	godebug, changed = runtimeGODEBUGOf(godebug)
	return append(append(env, extra...), "GODEBUG="+godebug), changed
}

// hashWorkerEnv is the environment of a hash worker: the server's without
// its GATEHOUSE_ variables, with GOMAXPROCS set to the hash parallelism (a
// worker computes one hash at a time) and the runtime default applied to
// the GODEBUG in force (RuntimeEnviron).
func hashWorkerEnv(environ []string, lanes uint8) []string {
	env, _ := RuntimeEnviron(environ, func(kv string) bool {
		// A worker needs no configuration, and none of its secrets.
		return strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GATEHOUSE_")
	}, fmt.Sprintf("GOMAXPROCS=%d", max(1, int(lanes))))
	return env
}

func buildCore(ctx context.Context, c config.Config, log *slog.Logger, po *password.Options, hashWorker []string) (*core, error) {
	st, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	opts := passwordOptions(c)
	if po != nil {
		opts = *po
	}
	if len(hashWorker) > 0 && !c.Password.InProcess {
		opts.Processes = password.ProcessOptions{Command: hashWorker, Env: hashWorkerEnv(os.Environ(), opts.Params.Parallelism)}
	}
	h, err := password.NewHasher(opts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("password: %w", err)
	}
	rbac := authz.NewRBAC(st)
	sessions := session.New(st, session.Options{
		Lifetime: c.Session.Lifetime, IdleTimeout: c.Session.IdleTimeout, RefreshTTL: c.Tokens.RefreshTTL,
		CacheTTL: c.Session.CacheTTL, Log: log,
	})
	ident := identity.New(st, h, rbac, identity.Options{
		LockoutThreshold: c.Lockout.Threshold, LockoutDuration: c.Lockout.Duration,
		Policy: password.Policy{MinLength: c.Password.MinLength, MaxLength: c.Password.MaxLength},
		Log:    log, RequireEmailVerification: c.RequireEmailVerification,
	})
	co := &core{cfg: c, log: log, st: st, hasher: h, rbac: rbac, sessions: sessions, identity: ident}
	// A changed user is dropped from this replica's cache at once and, with
	// Redis, from every other replica's.
	ident.SetOnUserChanged(co.identityChanged)
	sessions.SetOnRevoke(func(ids []string) { co.publish(fanout.Event{Sessions: ids}) })
	ident.SetOnLocked(func(ctx context.Context, u store.User, until time.Time) {
		if co.notify != nil {
			co.notify.NotifyLocked(ctx, u, until)
		}
	})
	return co, nil
}

// rotateOnSchedule reloads the signing keys each interval and rotates
// when the active one is older than every (never when every <= 0).
// Replicas reload first, so one that sees a fresh key from another replica
// does not rotate again; if two rotate at the same moment both keys are
// published and the newest signs.
func (g *Gatehouse) rotateOnSchedule(ctx context.Context, every, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.Keys.Reload(ctx); err != nil {
				g.core.log.Warn("scheduled key rotation: reload", "err", err)
				continue
			}
			if every <= 0 || time.Since(g.Keys.Active().CreatedAt) < every {
				continue
			}
			kid, err := g.Keys.Rotate(ctx)
			if err != nil {
				g.core.log.Warn("scheduled key rotation", "err", err)
				continue
			}
			g.core.log.Info("signing key rotated on schedule", "kid", kid)
		}
	}
}

// identityChanged drops a user's cached sessions from the shared tier,
// here, and then from every other replica's memory.
func (co *core) identityChanged(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	co.sessions.UserChanged(ctx, id)
	co.publish(fanout.Event{User: id})
}

// apply is what another replica's change does to this one's caches.
func (g *Gatehouse) apply(ev fanout.Event) {
	co := g.core
	co.sessions.InvalidateSessions(ev.Sessions)
	if ev.User != "" {
		co.sessions.InvalidateUser(ev.User)
	}
	if ev.Keys {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Keys.Reload(ctx); err != nil {
			co.log.Warn("reload signing keys after a rotation elsewhere", "err", err)
		}
	}
	if ev.Authz {
		co.rbac.Invalidate()
		if co.engine != nil {
			co.engine.InvalidatePolicies()
			co.engine.InvalidateRelations()
		}
	}
}

// publish sends a change to the other replicas, when there are any.
func (co *core) publish(ev fanout.Event) {
	if co.fan == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := co.fan.Publish(ctx, ev); err != nil {
		// The change is durable; other replicas see it within their TTLs.
		co.log.Warn("fan-out publish failed", "err", err)
	}
}

// BuildOptions adjust the wiring for tests and tools.
type BuildOptions struct {
	// Password overrides the hashing options from the configuration
	// (tests use cheap parameters).
	Password *password.Options
	// HashWorker, when set, is the command of the password-hash worker
	// processes (see Options.HashWorker).
	HashWorker []string
}

// Gatehouse is a fully wired server: the HTTP handler and the services
// behind it.
type Gatehouse struct {
	Handler  http.Handler
	Store    *sqlstore.Store
	Identity *identity.Service
	Sessions *session.Service
	Keys     *keyset.Set
	Limiter  ratelimit.Limiter
	Email    *emailflow.Service
	mail     *mail.Queue
	core     *core
	stop     context.CancelFunc
}

// Start runs the background work: mail flows, the session janitor and
// the rate-limit sweeper. Close stops it.
func (g *Gatehouse) Start(ctx context.Context) {
	ctx, g.stop = context.WithCancel(context.WithoutCancel(ctx))
	go g.Email.Run(ctx)
	go g.Sessions.RunJanitor(ctx, time.Minute)
	if m, ok := g.Limiter.(*ratelimit.Memory); ok {
		go sweepLimiter(ctx, m)
	}
	if g.core.fan != nil {
		go g.core.fan.Run(ctx, nil, g.apply)
	}
	// On PostgreSQL other replicas may rotate: besides the fan-out, which
	// reloads at once, a reload every minute heals a missed message. On
	// SQLite this process is the only one: an hourly check suffices.
	switch every := g.core.cfg.Tokens.RotateEvery; {
	case g.core.cfg.IsPostgres():
		go g.rotateOnSchedule(ctx, every, time.Minute)
	case every > 0:
		go g.rotateOnSchedule(ctx, every, time.Hour)
	}
}

// Close stops the background work, delivers queued mail (for up to ten
// seconds) and closes the store.
func (g *Gatehouse) Close() error {
	if g.stop != nil {
		g.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.mail.Close(ctx); err != nil {
		g.core.log.Warn("mail queue not drained", "err", err)
	}
	if g.core.rdb != nil {
		_ = g.core.rdb.Close()
	}
	return g.core.close()
}

// Build opens the store (running migrations), loads or creates the
// signing keys and wires every service behind the HTTP handler.
func Build(ctx context.Context, c config.Config, log *slog.Logger, o BuildOptions) (*Gatehouse, error) {
	// The master key is checked first: a missing key is a start-up error
	// before anything touches the database.
	mk, err := masterKey(c, log)
	if err != nil {
		return nil, err
	}
	co, err := buildCore(ctx, c, log, o.Password, o.HashWorker)
	if err != nil {
		return nil, err
	}
	g, err := wire(ctx, co, mk)
	if err != nil {
		co.close()
		return nil, err
	}
	return g, nil
}

func wire(ctx context.Context, co *core, mk keyset.MasterKey) (*Gatehouse, error) {
	c := co.cfg
	keys, err := keyset.New(ctx, co.st, mk, keyset.Options{Algorithm: c.Tokens.Algorithm, RetireAfter: c.Tokens.AccessTTL + time.Hour,
		// Every replica publishes a new key at once, so a verifier that
		// fetches the JWKS from any of them finds the kid of a fresh token.
		OnRotate: func(string) { co.publish(fanout.Event{Keys: true}) }})
	if err != nil {
		return nil, err
	}
	audience := c.Tokens.Audience
	if audience == "" {
		audience = c.HTTP.PublicURL
	}
	issuer := token.NewIssuer(keys, c.HTTP.PublicURL, []string{audience}, c.Tokens.AccessTTL, nil)
	// Keys rotated by another replica are picked up on their first use.
	verifier := token.NewCachedVerifier(token.NewVerifier(keyset.NewReloadingSource(keys, 0), c.HTTP.PublicURL, audience, nil, 0, nil), 0, nil)
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	if !c.RedisURL.Empty() {
		opt, err := redis.ParseURL(c.RedisURL.Reveal())
		if err != nil {
			return nil, errors.New("redis-url: cannot parse the Redis URL")
		}
		rdb := redis.NewClient(opt)
		co.rdb = rdb
		limiter = ratelimit.NewRedis(rdb, c.RedisPrefix+"rl:")
		co.fan = fanout.NewRedis(rdb, c.RedisPrefix+"events", co.log)
		co.sessions.SetShared(sessioncache.New(rdb, c.RedisPrefix+"s:", sessioncache.Options{}))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_password_hash_running", Help: "Password hashes running now."},
		func() float64 { r, _ := co.hasher.Stats(); return float64(r) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_password_hash_waiting", Help: "Password hashes waiting for a worker."},
		func() float64 { _, w := co.hasher.Stats(); return float64(w) }))
	for _, src := range []struct {
		name string
		n    func(session.Stats) uint64
	}{{"redis", func(s session.Stats) uint64 { return s.Shared }}, {"database", func(s session.Stats) uint64 { return s.Store }}} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_session_loads_total",
			Help:        "Session checks this replica's memory could not answer, by where the answer came from.",
			ConstLabels: prometheus.Labels{"source": src.name}},
			func() float64 { return float64(src.n(co.sessions.Stats())) }))
	}

	var sender mail.Sender
	if !c.SMTPURL.Empty() {
		sender, err = mail.NewSMTP(c.SMTPURL, c.Mail.From)
	} else {
		sender, err = mail.NewOutbox(filepath.Join(c.DataDir, "outbox"), c.Mail.From, co.log)
	}
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	tpl, err := mail.NewTemplates(c.Mail.ProductName)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	queue := mail.NewQueue(sender, mail.QueueOptions{Log: co.log})
	flows := emailflow.New(co.st, queue, tpl, co.identity, co.rbac, emailflow.Options{
		PublicURL: c.HTTP.PublicURL, VerifyTTL: c.OneTime.VerifyTTL, ResetTTL: c.OneTime.ResetTTL,
		MagicLinkTTL: c.OneTime.MagicLinkTTL, InvitationTTL: c.OneTime.InvitationTTL, Log: co.log,
		OnUserChanged: co.identityChanged,
	})
	co.notify = flows

	engine, err := authz.NewEngine(co.st, co.rbac, nil)
	if err != nil {
		return nil, err
	}
	authzAdmin := authz.NewAdmin(co.st, co.rbac, engine, co.identityChanged)
	authzAdmin.OnChanged = func() { co.publish(fanout.Event{Authz: true}) }
	co.engine = engine

	handler := httpapi.New(httpapi.Deps{
		Config: c, Log: co.log, Identity: co.identity, Sessions: co.sessions, RBAC: co.rbac, Authz: engine, AuthzAdmin: authzAdmin,
		Issuer: issuer, Verifier: verifier, Keys: keys, Limiter: limiter, Audit: co.st, Email: flows, Revocations: co.st,
		Ready: co.st.Ping, Registry: reg,
	})
	return &Gatehouse{Handler: handler, Store: co.st, Identity: co.identity, Sessions: co.sessions, Keys: keys,
		Limiter: limiter, Email: flows, mail: queue, core: co}, nil
}

// Ready is told the listening address once the server accepts requests
// (tests and the benchmark use it).
type Ready func(addr string)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready Ready, o Options) error {
	c, _, err := loadConfig("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(c, stderr)
	start := time.Now()
	g, err := Build(ctx, c, log, BuildOptions{HashWorker: o.HashWorker})
	if err != nil {
		return err
	}
	defer g.Close()
	// Hand start-up's garbage (migrations, key loading) back so an idle
	// server stays small.
	debug.FreeOSMemory()
	srv := &http.Server{
		Handler:           g.Handler,
		ReadHeaderTimeout: c.HTTP.ReadHeaderTimeout,
		ReadTimeout:       c.HTTP.ReadTimeout,
		WriteTimeout:      c.HTTP.WriteTimeout,
		IdleTimeout:       c.HTTP.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.HTTP.Addr, err)
	}
	g.Start(ctx)

	store := "sqlite:" + c.SQLitePath()
	if c.IsPostgres() {
		store = "postgres"
	}
	log.Info("gatehouse ready", "addr", ln.Addr().String(), "public_url", c.HTTP.PublicURL, "store", store,
		"version", version(), "startup", time.Since(start).Round(time.Millisecond))
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func sweepLimiter(ctx context.Context, m *ratelimit.Memory) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, _, err := loadConfig("migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}
