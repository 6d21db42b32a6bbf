//go:build !unix

package main

import "errors"

// execve is not available here; the server runs with the Go defaults.
func execve(string, []string, []string) error { return errors.ErrUnsupported }
