// Command posts is an example resource server protected by Gatehouse
// through the Go SDK: the posts API of the source documents.
//
//	GET    /posts       list posts          posts.read   (viewer, editor, admin)
//	GET    /posts/{id}  read one post       posts.read
//	POST   /posts       create a post       posts.create (editor, admin); the caller becomes its author
//	PATCH  /posts/{id}  edit title or body  posts.update (editor, admin, and the post's author
//	                                        through the seeded policy authors-edit-own-posts)
//	DELETE /posts/{id}  delete a post       posts.delete (admin)
//
// Every route runs [gatehouse.Verifier.Authenticate] (the access token is
// verified offline) and then [gatehouse.Verifier.RequirePermission] (the
// decision is Gatehouse's, asked on every request, so role changes apply
// at once). Posts live in memory and are lost when the process ends.
//
// Environment: GATEHOUSE_URL (required, Gatehouse's public URL, e.g.
// http://127.0.0.1:8080) and LISTEN (default 127.0.0.1:8081).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	gatehouse "github.com/gatehouse-auth/gatehouse/sdk"
)

const (
	maxBodyBytes = 64 << 10
	maxTitle     = 200   // characters
	maxText      = 20000 // characters
)

// post is one post as the API shows it.
type post struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"author_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// store keeps posts in memory. It hands out copies, never pointers into
// its map.
type store struct {
	mu    sync.Mutex
	next  int
	posts map[string]post
}

func newStore() *store { return &store{posts: map[string]post{}} }

func (s *store) list() []post {
	s.mu.Lock()
	out := make([]post, 0, len(s.posts))
	for _, p := range s.posts {
		out = append(out, p)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b post) int {
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
	return out
}

func (s *store) get(id string) (post, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.posts[id]
	return p, ok
}

func (s *store) create(title, body, authorID string) post {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	now := time.Now().UTC()
	p := post{ID: strconv.Itoa(s.next), Title: title, Body: body, AuthorID: authorID, CreatedAt: now, UpdatedAt: now}
	s.posts[p.ID] = p
	return p
}

// update applies the non-nil fields; the author never changes.
func (s *store) update(id string, title, body *string) (post, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.posts[id]
	if !ok {
		return post{}, false
	}
	if title != nil {
		p.Title = *title
	}
	if body != nil {
		p.Body = *body
	}
	p.UpdatedAt = time.Now().UTC()
	s.posts[id] = p
	return p, true
}

func (s *store) delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.posts[id]
	delete(s.posts, id)
	return ok
}

// newServer is the posts API with an empty store.
func newServer(v *gatehouse.Verifier) http.Handler { return routes(v, newStore()) }

// routes wires the API over st; tests use it to seed posts.
func routes(v *gatehouse.Verifier, st *store) http.Handler {
	// guard authenticates the caller, then asks Gatehouse whether they may
	// do action on the resource res picks.
	guard := func(action string, res func(*http.Request) gatehouse.Resource, h http.HandlerFunc) http.Handler {
		return v.Authenticate(v.RequirePermission(action, res)(h))
	}
	anyPost := func(*http.Request) gatehouse.Resource { return gatehouse.Resource{Type: "post"} }
	onePost := func(r *http.Request) gatehouse.Resource {
		return gatehouse.Resource{Type: "post", ID: r.PathValue("id")}
	}
	// ownedPost adds the author, so the policy authors-edit-own-posts can
	// allow the author; roles (editor, admin) allow anyone. For a post that
	// does not exist there is no author: only roles can allow, and the
	// handler then answers 404.
	ownedPost := func(r *http.Request) gatehouse.Resource {
		res := onePost(r)
		if p, ok := st.get(res.ID); ok {
			res.Attributes = map[string]any{"author_id": p.AuthorID}
		}
		return res
	}

	mux := http.NewServeMux()
	mux.Handle("GET /posts", guard("posts.read", anyPost, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"posts": st.list()})
	}))
	mux.Handle("GET /posts/{id}", guard("posts.read", onePost, func(w http.ResponseWriter, r *http.Request) {
		p, ok := st.get(r.PathValue("id"))
		if !ok {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}))
	mux.Handle("POST /posts", guard("posts.create", anyPost, func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title *string `json:"title"`
			Body  *string `json:"body"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Title == nil {
			invalid(w, "title", "is required")
			return
		}
		if !validFields(w, in.Title, in.Body) {
			return
		}
		c, _ := gatehouse.ClaimsFrom(r.Context())
		p := st.create(*in.Title, deref(in.Body), c.Subject)
		w.Header().Set("Location", "/posts/"+p.ID)
		writeJSON(w, http.StatusCreated, p)
	}))
	mux.Handle("PATCH /posts/{id}", guard("posts.update", ownedPost, func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title *string `json:"title"`
			Body  *string `json:"body"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Title == nil && in.Body == nil {
			invalid(w, "title", "title or body is required")
			return
		}
		if !validFields(w, in.Title, in.Body) {
			return
		}
		p, ok := st.update(r.PathValue("id"), in.Title, in.Body)
		if !ok {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}))
	mux.Handle("DELETE /posts/{id}", guard("posts.delete", onePost, func(w http.ResponseWriter, r *http.Request) {
		if !st.delete(r.PathValue("id")) {
			notFound(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return mux
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validFields checks the title and body that are present.
func validFields(w http.ResponseWriter, title, body *string) bool {
	if title != nil {
		t := strings.TrimSpace(*title)
		if t == "" {
			invalid(w, "title", "must not be empty")
			return false
		}
		if utf8.RuneCountInString(t) > maxTitle {
			invalid(w, "title", fmt.Sprintf("must be at most %d characters", maxTitle))
			return false
		}
		*title = t
	}
	if body != nil && utf8.RuneCountInString(*body) > maxText {
		invalid(w, "body", fmt.Sprintf("must be at most %d characters", maxText))
		return false
	}
	return true
}

// decode reads one JSON object of known fields, answering 400 or 413 when
// it cannot.
func decode(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, "payload_too_large", "Payload too large", "")
		return false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "validation_failed", "Validation failed", "The body must be one JSON object of known fields.")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem answers in RFC 9457 form, like Gatehouse and the SDK
// middleware do.
func writeProblem(w http.ResponseWriter, status int, code, title, detail string, extra ...map[string]any) {
	p := map[string]any{"type": "https://gatehouse.dev/problems/" + code, "title": title, "status": status, "code": code}
	if detail != "" {
		p["detail"] = detail
	}
	for _, e := range extra {
		for k, v := range e {
			p[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

func notFound(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "not_found", "Not found", "No such post.")
}

func invalid(w http.ResponseWriter, field, msg string) {
	writeProblem(w, http.StatusBadRequest, "validation_failed", "Validation failed", "",
		map[string]any{"errors": []map[string]string{{"field": field, "message": msg}}})
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("posts", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	base := os.Getenv("GATEHOUSE_URL")
	if base == "" {
		return errors.New("GATEHOUSE_URL is required (e.g. http://127.0.0.1:8080)")
	}
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = "127.0.0.1:8081"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	v, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: base, Logger: log})
	if err != nil {
		return fmt.Errorf("gatehouse verifier: %w", err)
	}
	defer v.Close()

	srv := &http.Server{
		Addr:              listen,
		Handler:           newServer(v),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("posts listening", "addr", listen, "gatehouse", base)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
