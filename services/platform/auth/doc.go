// Package auth is kassa's identity and access layer: who is calling
// (Principal), how a bearer token proves it (Verifier, over the kassa
// issuer's keys and optionally an external OIDC issuer), what each RPC
// requires (Rule, checked by the gRPC interceptor, and Owner for the
// resource-level check in handlers), and how a service proves its own
// identity to its peers (TokenSource, PerRPCCredentials).
//
// The core (principal.go, rule.go, verify.go, config.go, token.go) knows
// nothing of gRPC, so the gateway and HTTP handlers can use it as well; the
// gRPC server and client glue lives in grpc.go.
package auth
