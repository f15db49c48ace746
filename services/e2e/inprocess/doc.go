// Package inprocess assembles the whole kassa system in one test process
// (the four services on real PostgreSQL databases and the gateway, talking
// gRPC over loopback) to look at what separate processes hide: the spans of
// every service in one in-memory exporter, and the cost of instrumentation
// in a benchmark. It wires the services as their cmd packages do.
package inprocess
