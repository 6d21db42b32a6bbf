// Package mail owns every mail Gatehouse sends: what a mail says
// (Templates renders each kind with a plain-text and an HTML part), how it
// is encoded (one RFC 5322 / MIME builder on top of go-mail, shared by all
// transports so they emit the same bytes), and how it leaves the process:
//
//   - SMTP delivers through a server named by an smtp:// or smtps:// URL;
//   - Outbox writes each mail as a .eml file for development, when no SMTP
//     server is configured;
//   - Queue sends in the background with retries, so an HTTP answer never
//     waits for a mail server.
//
// Mails carry one-time links, so bodies are never logged; an SMTP URL is a
// secret.Secret and its password never appears in an error.
package mail
