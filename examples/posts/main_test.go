package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	gatehouse "github.com/gatehouse-auth/gatehouse/sdk"
)

const pw = "correct horse battery staple"

// call sends one request to base+path and decodes a JSON answer into out
// (when given); it returns the status.
func call(t *testing.T, method, url, bearer string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	if res.StatusCode >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s %s: %d with content type %q", method, url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return res.StatusCode
}

func TestPostsAgainstGatehouse(t *testing.T) {
	ctx := t.Context()
	gURL, g := apptest.Serve(t, nil)
	cl := gatehouse.NewClient(gatehouse.Config{BaseURL: gURL})

	login := func(email string) *gatehouse.Tokens {
		t.Helper()
		tok, err := cl.Login(ctx, email, pw)
		if err != nil {
			t.Fatalf("login %s: %v", email, err)
		}
		return tok
	}
	bootstrap := func(email, role string) {
		t.Helper()
		if _, err := g.Identity.Bootstrap(ctx, identity.NewUserInput{
			SignupInput: identity.SignupInput{Email: email, Password: pw},
			Roles:       []string{role}, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
	}
	signup := func(email string) *gatehouse.User {
		t.Helper()
		u, pending, err := cl.Signup(ctx, gatehouse.SignupRequest{Email: email, Password: pw})
		if err != nil || pending || u == nil {
			t.Fatalf("signup %s: %+v %v %v", email, u, pending, err)
		}
		return u
	}
	bootstrap("admin@example.com", "admin")
	bootstrap("editor@example.com", "editor")
	viewerUser := signup("viewer@example.com")
	admin, editor, viewer := login("admin@example.com"), login("editor@example.com"), login("viewer@example.com")

	v, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: gURL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	db := newStore()
	api := httptest.NewServer(routes(v, db))
	t.Cleanup(api.Close)
	u := api.URL

	// One post by the editor, one by the viewer (a viewer cannot create
	// posts through the API, so it goes straight into the store).
	var edPost post
	if st := call(t, "POST", u+"/posts", editor.AccessToken, map[string]string{"title": " Editor's post ", "body": "hi"}, &edPost); st != 201 {
		t.Fatalf("editor create: %d", st)
	}
	if edPost.AuthorID != editor.User.ID || edPost.Title != "Editor's post" {
		t.Fatalf("editor's post %+v", edPost)
	}
	vPost := db.create("Viewer's post", "mine", viewerUser.ID)

	t.Run("no token is 401", func(t *testing.T) {
		for _, m := range []string{"GET /posts", "GET /posts/1", "POST /posts", "PATCH /posts/1", "DELETE /posts/1"} {
			method, path, _ := strings.Cut(m, " ")
			if st := call(t, method, u+path, "", map[string]string{"title": "x"}, nil); st != 401 {
				t.Errorf("%s without token: %d", m, st)
			}
			if st := call(t, method, u+path, "not-a-token", map[string]string{"title": "x"}, nil); st != 401 {
				t.Errorf("%s with a bad token: %d", m, st)
			}
		}
	})

	t.Run("viewer reads, cannot create or delete", func(t *testing.T) {
		var list struct{ Posts []post }
		if st := call(t, "GET", u+"/posts", viewer.AccessToken, nil, &list); st != 200 || len(list.Posts) != 2 || list.Posts[0].ID != edPost.ID {
			t.Fatalf("list: %d %+v", st, list)
		}
		var p post
		if st := call(t, "GET", u+"/posts/"+edPost.ID, viewer.AccessToken, nil, &p); st != 200 || p != edPost {
			t.Fatalf("read: %d %+v", st, p)
		}
		if st := call(t, "GET", u+"/posts/999", viewer.AccessToken, nil, nil); st != 404 {
			t.Fatalf("read missing: %d", st)
		}
		if st := call(t, "POST", u+"/posts", viewer.AccessToken, map[string]string{"title": "nope"}, nil); st != 403 {
			t.Fatalf("viewer create: %d", st)
		}
		if st := call(t, "DELETE", u+"/posts/"+vPost.ID, viewer.AccessToken, nil, nil); st != 403 {
			t.Fatalf("viewer delete own post: %d", st)
		}
	})

	t.Run("author edits own post only", func(t *testing.T) {
		var p post
		if st := call(t, "PATCH", u+"/posts/"+vPost.ID, viewer.AccessToken, map[string]string{"body": "edited by me"}, &p); st != 200 ||
			p.Body != "edited by me" || p.Title != vPost.Title || p.AuthorID != viewerUser.ID {
			t.Fatalf("author update: %d %+v", st, p)
		}
		if st := call(t, "PATCH", u+"/posts/"+edPost.ID, viewer.AccessToken, map[string]string{"body": "hijack"}, nil); st != 403 {
			t.Fatalf("viewer update of someone else's post: %d", st)
		}
		if got, _ := db.get(edPost.ID); got.Body != "hi" {
			t.Fatalf("post changed after a 403: %+v", got)
		}
	})

	t.Run("editor creates and updates any post, cannot delete", func(t *testing.T) {
		var p post
		if st := call(t, "PATCH", u+"/posts/"+vPost.ID, editor.AccessToken, map[string]string{"title": "Edited by editor"}, &p); st != 200 ||
			p.Title != "Edited by editor" || p.AuthorID != viewerUser.ID {
			t.Fatalf("editor update of the viewer's post: %d %+v", st, p)
		}
		if st := call(t, "PATCH", u+"/posts/999", editor.AccessToken, map[string]string{"title": "x"}, nil); st != 404 {
			t.Fatalf("editor update missing: %d", st)
		}
		for name, body := range map[string]any{
			"empty title": map[string]string{"title": "  "}, "nothing": map[string]string{},
			"unknown field": map[string]string{"author_id": viewerUser.ID}, "not an object": "title",
		} {
			if st := call(t, "PATCH", u+"/posts/"+vPost.ID, editor.AccessToken, body, nil); st != 400 {
				t.Errorf("%s: %d, want 400", name, st)
			}
		}
		if st := call(t, "DELETE", u+"/posts/"+edPost.ID, editor.AccessToken, nil, nil); st != 403 {
			t.Fatalf("editor delete: %d", st)
		}
	})

	t.Run("admin deletes", func(t *testing.T) {
		var p post
		if st := call(t, "POST", u+"/posts", admin.AccessToken, map[string]string{"title": "Doomed"}, &p); st != 201 || p.AuthorID != admin.User.ID {
			t.Fatalf("admin create: %d %+v", st, p)
		}
		if st := call(t, "DELETE", u+"/posts/"+p.ID, admin.AccessToken, nil, nil); st != 204 {
			t.Fatalf("admin delete: %d", st)
		}
		if st := call(t, "GET", u+"/posts/"+p.ID, admin.AccessToken, nil, nil); st != 404 {
			t.Fatalf("read after delete: %d", st)
		}
		if st := call(t, "DELETE", u+"/posts/"+p.ID, admin.AccessToken, nil, nil); st != 404 {
			t.Fatalf("delete twice: %d", st)
		}
	})

	t.Run("role change applies to the next request with the same token", func(t *testing.T) {
		carolUser := signup("carol@example.com")
		carol := login("carol@example.com")
		setRoles := func(role string) {
			t.Helper()
			if st := call(t, "PUT", gURL+"/v1/admin/users/"+carolUser.ID+"/roles", admin.AccessToken,
				map[string]any{"roles": []string{role}}, nil); st != 200 {
				t.Fatalf("set roles %s: %d", role, st)
			}
		}
		if st := call(t, "POST", u+"/posts", carol.AccessToken, map[string]string{"title": "Carol's"}, nil); st != 403 {
			t.Fatalf("carol as viewer: %d", st)
		}
		setRoles("editor")
		var p post
		if st := call(t, "POST", u+"/posts", carol.AccessToken, map[string]string{"title": "Carol's"}, &p); st != 201 || p.AuthorID != carolUser.ID {
			t.Fatalf("carol as editor, same token: %d %+v", st, p)
		}
		if st := call(t, "PATCH", u+"/posts/"+edPost.ID, carol.AccessToken, map[string]string{"body": "carol was here"}, nil); st != 200 {
			t.Fatalf("carol as editor updates another's post: %d", st)
		}
		setRoles("viewer")
		if st := call(t, "PATCH", u+"/posts/"+edPost.ID, carol.AccessToken, map[string]string{"body": "again"}, nil); st != 403 {
			t.Fatalf("carol back to viewer: %d", st)
		}
		// Still the author of the post she made as an editor.
		if st := call(t, "PATCH", u+"/posts/"+p.ID, carol.AccessToken, map[string]string{"body": "still mine"}, nil); st != 200 {
			t.Fatalf("carol edits her own post as a viewer: %d", st)
		}
	})

	t.Run("logout ends access within the poll interval", func(t *testing.T) {
		tok := login("viewer@example.com")
		if st := call(t, "GET", u+"/posts", tok.AccessToken, nil, nil); st != 200 {
			t.Fatalf("before logout: %d", st)
		}
		if err := cl.Logout(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		// RequirePermission asks Gatehouse, so the very next request is
		// refused even before the verifier's poll notices.
		if st := call(t, "GET", u+"/posts", tok.AccessToken, nil, nil); st != 401 {
			t.Fatalf("after logout: %d", st)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the verifier did not learn of the logout")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("newServer wiring", func(t *testing.T) {
		h := newServer(v)
		for _, m := range []string{"GET /posts", "GET /posts/1", "POST /posts", "PATCH /posts/1", "DELETE /posts/1"} {
			method, path, _ := strings.Cut(m, " ")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(`{"title":"x"}`)))
			if w.Code != 401 || w.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s: %d %q", m, w.Code, w.Header().Get("WWW-Authenticate"))
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("PUT", "/posts/1", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("PUT: %d", w.Code)
		}
		// A fresh server has its own, empty store.
		w = httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/posts", nil)
		r.Header.Set("Authorization", "Bearer "+editor.AccessToken)
		h.ServeHTTP(w, r)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"posts":[]}` {
			t.Errorf("fresh list: %d %s", w.Code, w.Body)
		}
	})
}
