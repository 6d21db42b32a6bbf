// Package app is the wiring: it parses the command line, loads the
// configuration, opens the store, builds every service, starts the HTTP
// server and shuts it all down. It is the only package that knows every
// other one; nothing here decides anything a domain package should.
package app
