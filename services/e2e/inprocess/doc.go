// Package inprocess assembles the whole kassa system in one test process
// (the four services on real PostgreSQL databases and the gateway, talking
// gRPC over loopback) to look at what separate processes hide: the spans of
// every service in one in-memory exporter, and the cost of instrumentation
// in a benchmark. Each service is built by its wire package, the one its
// cmd package builds it with.
package inprocess
