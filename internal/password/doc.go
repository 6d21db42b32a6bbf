// Package password owns everything Gatehouse does with user passwords
// except storing them:
//
//   - hashing new passwords with argon2id into one self-describing PHC
//     string (salt and parameters inside the hash, P1, P2, U2);
//   - verifying a password against any hash Gatehouse accepts: its own
//     argon2id strings, bcrypt ($2a$, $2b$, $2y$) and the legacy
//     "hmac-sha256$salt$hex" strings of imported users, telling the caller
//     when a verified hash should be replaced (rehash on next login);
//   - a bounded hashing pool (Hasher) so that a login flood queues a few
//     callers and turns the rest away with ErrBusy instead of exhausting
//     memory;
//   - a dummy verification of equal cost for unknown, locked or suspended
//     users, so timing does not reveal which case applied (L6-L8);
//   - the password policy: length limits and rejection of common passwords
//     (an embedded list) and of passwords built from the user's own name or
//     email (U16).
//
// Parsing of stored hashes is strict and bounded: a hostile or corrupt hash
// in the database or in an import file fails fast with an error instead of
// making the server spend unbounded memory or time. Plaintext passwords
// never appear in errors; neither do stored hashes.
//
// The package has no package-level mutable state: a Hasher is built once in
// app and passed down; a Policy is a plain value.
package password
