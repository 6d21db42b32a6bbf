package gatehouse_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	gatehouse "github.com/gatehouse-auth/gatehouse/sdk"
)

// A resource server that protects its posts API with Gatehouse: every
// route needs a valid access token, and each asks the check API for the
// permission it needs.
func Example() {
	ctx := context.Background()
	v, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: "https://auth.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	post := func(r *http.Request) gatehouse.Resource {
		return gatehouse.Resource{Type: "post", ID: r.PathValue("id")}
	}
	showPost := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gatehouse.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "post %s, read by %s\n", r.PathValue("id"), c.Subject)
	})
	updatePost := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	mux := http.NewServeMux()
	mux.Handle("GET /posts/{id}", v.Authenticate(v.RequirePermission("posts.read", post)(showPost)))
	mux.Handle("PUT /posts/{id}", v.Authenticate(v.RequirePermission("posts.update", post)(updatePost)))
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// Verifying a token directly, e.g. in a gRPC interceptor or a job runner.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	v, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: "https://auth.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	var accessToken string // from the request
	claims, err := v.Verify(ctx, accessToken)
	switch {
	case errors.Is(err, gatehouse.ErrExpired):
		// the client should refresh
	case errors.Is(err, gatehouse.ErrRevoked):
		// the session ended: logout, revocation, suspension
	case err != nil:
		// not a valid Gatehouse access token
	default:
		fmt.Println("user", claims.Subject, "session", claims.SessionID)
	}
}

// A first-party client logging in, calling an API and refreshing.
func ExampleClient() {
	ctx := context.Background()
	c := gatehouse.NewClient(gatehouse.Config{BaseURL: "https://auth.example.com"})

	tok, err := c.Login(ctx, "alice@example.com", "correct horse battery staple")
	var apiErr *gatehouse.APIError
	switch {
	case errors.Is(err, gatehouse.ErrMFARequired):
		var mfa *gatehouse.MFARequiredError
		errors.As(err, &mfa)
		tok, err = c.LoginMFA(ctx, mfa.MFAToken, "123456")
	case errors.As(err, &apiErr) && apiErr.Code == "invalid_credentials":
		log.Fatal("wrong email or password")
	}
	if err != nil {
		log.Fatal(err)
	}

	allowed, reason, err := c.Check(ctx, tok.AccessToken, "posts.update", gatehouse.Resource{Type: "post", ID: "42"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(allowed, reason)

	// Later, before the access token expires:
	tok, err = c.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Logout(ctx, tok.AccessToken)
}
