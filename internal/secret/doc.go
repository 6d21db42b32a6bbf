// Package secret owns the handling of secret values: a Secret type that
// never prints itself, random opaque tokens and their SHA-256 digests, and
// constant-time comparison (L10). Anything that must not reach a log, an
// error or a response body travels as a Secret.
package secret
