// Package httpapi owns Gatehouse's HTTP surface: every route in routes.go,
// the middleware chain (request id, recovery, logging, metrics, security
// headers, CORS, CSRF, body limit, authentication), JSON decoding in one
// helper, and the one function that maps errors to RFC 9457 problem+json
// answers. Handlers decode, call a domain service, encode.
package httpapi
