// Package clustertest holds the multi-process cluster test: three
// `gatehouse serve` processes on loopback ports sharing one PostgreSQL
// database and one Redis, as a deployment behind a load balancer without
// sticky sessions runs them. The processes are copies of the test binary
// that run the same app.Run as cmd/gatehouse, so they can be killed with
// SIGKILL like any server.
//
// The tests need GATEHOUSE_TEST_POSTGRES_URL and GATEHOUSE_TEST_REDIS_URL;
// without them they skip, unless GATEHOUSE_TEST_REQUIRE_SERVICES=1 (set by
// .ci/run), in which case they fail.
package clustertest
