// Package config owns Gatehouse's configuration: one struct per section
// with defaults, loaded once from a YAML file, then environment variables,
// then command-line flags (each flag has a GATEHOUSE_* env twin), and
// validated at start with messages a person can act on.
package config
