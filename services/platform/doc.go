// Package platform is the bootstrap code shared by the kassa services: gRPC
// server setup, error kinds (apperr, which domain packages use and which
// knows nothing of gRPC) and their mapping to gRPC statuses
// (apperr/grpcstatus, used by the server's interceptor), PostgreSQL access
// and migrations, and the throwaway clusters used by tests and the local
// stack. It lives in its own module so no service repeats it and no service
// imports another.
package platform
