// Package platform is what every kassa process imports to boot, and nothing
// else (development tooling is in the dev module):
//
//   - boot: a service's process from its Spec (flags and environment,
//     database and migrations, peers, the gRPC server, the admin listener,
//     shutdown); process: the settings, logger and telemetry every process
//     has, the gateway's too.
//   - rpcserver: the gRPC server with kassa's interceptors, health,
//     readiness and reflection; rpcclient: connections to peers.
//   - auth: token verification, the access rules, service credentials;
//     usertoken: a service's own token from the user service.
//   - admission (and admissionflag): bounded concurrency with fast refusal.
//   - apperr: error kinds and reasons, free of any transport, for domain
//     packages; apperr/grpcstatus maps them to google.rpc.Status.
//   - validate, paging, retry: the shared rules of requests, pages and
//     retries; pgdb: PostgreSQL access; telemetry: metrics and traces.
//   - pgcluster, pgtest, grpctest, freeport: throwaway PostgreSQL clusters,
//     gRPC peers and free loopback ports for the services' tests (and the
//     dev stack); benchtest: what the in-process benchmarks share.
//
// It lives in its own module so no service repeats it and no service
// imports another.
package platform
