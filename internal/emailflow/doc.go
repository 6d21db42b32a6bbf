// Package emailflow owns the mail-driven flows: email verification,
// password reset, magic-link sign-in, invitations, and the notices a user
// gets about their account (new device, lockout, a signup attempt with
// their address). It mints one-time tokens (32 random bytes, only the
// SHA-256 stored, single use, expiring: O1-O9), renders the mails and
// hands them to the mail queue, and redeems tokens through store methods
// that spend them atomically.
//
// Requests that start a flow by email address (verification, reset, magic
// link) are answered before any lookup happens: the work runs on a
// background worker, so the answer is the same, in the same time, whether
// or not the address has an account (U11, O-series).
package emailflow
