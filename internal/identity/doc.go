// Package identity owns user accounts: signup, password login with
// lockout and equal-time failures, profile, password change, the admin
// operations on users and the import of users from other systems. It
// decides; the store persists, and every change carries its audit event.
package identity
