// Package authz owns authorization decisions. For now it holds the RBAC
// layer (Z2-Z4, Z16): the role -> permission map, cached in memory as an
// immutable snapshot and reloaded on invalidation, so a permission check
// costs no query in the common case yet a change applies on the next
// check. Direct grants, ACL tuples and CEL policies grow from here.
package authz
