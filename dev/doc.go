// Package dev is kassa's development tooling, kept apart from what a
// service imports to boot: stack runs the whole system on one machine (a
// private PostgreSQL cluster, the four services and the gateway) for make
// run, the end-to-end and fault tests and the benchmark, and
// cmd/kassa-stack is its command.
package dev
