// Package gatehouse is the Go SDK for resource servers and first-party
// clients of a Gatehouse auth server.
//
// It owns three things:
//
//   - [Verifier]: offline verification of Gatehouse access tokens (JWTs
//     signed with RS256, ES256 or EdDSA and published in the server's JWKS),
//     with a cached JWKS that is refreshed in the background and on an
//     unknown kid, and revocation awareness: a background poller reads
//     GET /v1/revocations so tokens of ended sessions (logout, revocation,
//     suspension, password change) are refused within about one poll
//     interval, without a call per request.
//   - net/http middleware: [Verifier.Authenticate] (Bearer access tokens)
//     and [Verifier.RequirePermission], which asks the server's check API
//     on every request, so role and policy changes apply at once and a
//     failing check API fails closed.
//   - [Client]: a typed client for the first-party JSON API (signup,
//     login, refresh, logout, whoami, permission checks), whose failures
//     are [*APIError] values parsed from RFC 9457 problem documents.
//
// The package imports nothing from Gatehouse's internal packages and can be
// used by any module.
//
// A typical resource server:
//
//	v, err := gatehouse.NewVerifier(ctx, gatehouse.Config{BaseURL: "https://auth.example.com"})
//	if err != nil { ... }
//	defer v.Close()
//	mux.Handle("GET /posts/{id}", v.Authenticate(v.RequirePermission("posts.read", postByID)(readPost)))
//
// Access tokens carry the roles the user held when the token was issued;
// they can be out of date by up to the token lifetime. Base authorization
// decisions on [Verifier.RequirePermission] (or [Client.Check]), not on
// [Claims.Roles].
package gatehouse
