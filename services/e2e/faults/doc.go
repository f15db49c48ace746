// Package faults is kassa's fault-injection suite: on the real binaries and
// a real PostgreSQL it kills, stops and drains services, the gateway and
// the database while clients place and cancel orders with idempotency keys
// and retry them, then checks in SQL and through the API that no money,
// refund or letter was lost or doubled. Run it with `make faults`.
package faults
