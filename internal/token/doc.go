// Package token owns the tokens Gatehouse hands out.
//
// Access tokens (J1-J5) are JWTs signed by the active keyset key, with typ
// "at+jwt" (RFC 9068) and the key's kid in the header, and the claims iss,
// sub, aud, iat, exp, jti, sid, plus optional nbf, roles, amr, auth_time,
// client_id and scope. Claims are readable by anyone holding the token
// (J3): put nothing secret in them. An Issuer mints them; a Verifier checks
// them offline against public keys only (a KeySource), pinning the
// asymmetric algorithms it accepts, so "none" and HMAC tokens, including
// the classic HS256-with-the-RSA-public-key confusion, never verify.
//
// Opaque tokens (session, refresh and one-time tokens, J10) are random
// strings of which only the SHA-256 digest is stored (S2); NewOpaque mints
// one with its digest. LooksLikeJWT tells the two shapes apart cheaply so
// the authentication middleware can route a bearer token.
package token
