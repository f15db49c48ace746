// Package e2e tests the whole kassa system as users run it: the real
// binaries of the four services and the gateway on a throwaway PostgreSQL
// cluster, driven through the generated Go clients. It checks what no
// single service can: money and letters stay consistent across services
// under concurrent and repeated requests.
package e2e
