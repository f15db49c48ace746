// Package workload decides what every request of the benchmark does: an
// order or a deposit, for which of the pre-created users, for how much, and
// which answer is the right one. An operation is a pure function of its
// sequence number, so the correctness check after the load can recompute
// what each stored order and ledger entry must look like from its
// idempotency key alone.
package workload

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// Kind is what a request does.
type Kind uint8

const (
	// Order places an order (CreateOrder).
	Order Kind = iota
	// Deposit puts money on an account (Deposit).
	Deposit
)

func (k Kind) String() string {
	if k == Deposit {
		return "deposit"
	}
	return "order"
}

// Amounts of the workload, in minor units. Every user is funded with
// FundAmount before the load; affordable orders cost at most MaxPrice, so a
// user would need FundAmount/MaxPrice = 100,000 paid orders to run dry,
// far beyond any run. Orders meant to be rejected cost RejectPrice, more
// than any balance can reach, so exactly the chosen share is rejected
// whatever order the requests happen to run in.
const (
	FundAmount  int64 = 1_000_000_000
	MinPrice    int64 = 100
	MaxPrice    int64 = 10_000
	MinDeposit  int64 = 100
	MaxDeposit  int64 = 5_000
	RejectPrice int64 = 10_000_000_000_000
)

// scale is the resolution of the shares (parts per million).
const scale = 1_000_000

// Mix describes the workload.
type Mix struct {
	// DepositShare is the share of requests that are deposits (0..1).
	DepositShare float64
	// RejectShare is the share of orders priced so that billing declines
	// them (0..1).
	RejectShare float64
	// Users is how many pre-created users the requests spread over.
	Users int
	// Seed varies which user and amount each sequence number gets.
	Seed uint64
}

// Validate reports a mix that cannot be generated.
func (m Mix) Validate() error {
	switch {
	case m.DepositShare < 0 || m.DepositShare > 1:
		return fmt.Errorf("deposit share %v is not within 0..1", m.DepositShare)
	case m.RejectShare < 0 || m.RejectShare > 1:
		return fmt.Errorf("reject share %v is not within 0..1", m.RejectShare)
	case m.Users < 1:
		return fmt.Errorf("the workload needs at least one user, got %d", m.Users)
	}
	return nil
}

// Op is one request of the workload.
type Op struct {
	Seq  int64
	Kind Kind
	// User indexes the pre-created users.
	User int
	// Amount is the order's price or the deposit's amount.
	Amount int64
	// WantRejected is true for orders that billing must decline.
	WantRejected bool
}

// Op returns request seq (0, 1, 2, ...). The kinds are spread evenly
// rather than drawn at random: among the first n requests there are
// floor(n*DepositShare) deposits, and among the first k orders
// floor(k*RejectShare) are rejected, so every window of the load has the
// configured mix, not just a long run on average.
func (m Mix) Op(seq int64) Op {
	dep := parts(m.DepositShare)
	rej := parts(m.RejectShare)
	h := splitmix(m.Seed ^ uint64(seq)*0x9e3779b97f4a7c15)
	op := Op{Seq: seq, User: int(h % uint64(m.Users))}
	h = splitmix(h)
	if countUpTo(seq+1, dep) > countUpTo(seq, dep) {
		op.Kind = Deposit
		op.Amount = MinDeposit + int64(h%uint64(MaxDeposit-MinDeposit+1))
		return op
	}
	op.Kind = Order
	k := seq - countUpTo(seq, dep) // how many orders precede this one
	if countUpTo(k+1, rej) > countUpTo(k, rej) {
		op.WantRejected = true
		op.Amount = RejectPrice
		return op
	}
	op.Amount = MinPrice + int64(h%uint64(MaxPrice-MinPrice+1))
	return op
}

// countUpTo is how many of the first n items are selected at a share of
// p parts per million: floor(n*p/scale).
func countUpTo(n, p int64) int64 { return n * p / scale }

func parts(share float64) int64 { return int64(share*scale + 0.5) }

// splitmix is the SplitMix64 finaliser: a cheap, well-mixed hash.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Generator hands out the operations of one run in order. It is safe for
// concurrent use.
type Generator struct {
	Mix
	// Run distinguishes this run's idempotency keys from any other's.
	Run  string
	next atomic.Int64
}

// Next returns the next operation. Only operations that are actually sent
// should be taken, so that Issued is exactly the set of requests made.
func (g *Generator) Next() Op { return g.Op(g.next.Add(1) - 1) }

// Issued is how many operations Next has returned: sequence numbers
// 0..Issued-1.
func (g *Generator) Issued() int64 { return g.next.Load() }

// RequestID is the idempotency key of operation seq.
func (g *Generator) RequestID(seq int64) string {
	return g.Run + "-" + strconv.FormatInt(seq, 10)
}

// ParseRequestID returns the sequence number of a key made by RequestID;
// ok is false for keys of another run or of something else.
func (g *Generator) ParseRequestID(key string) (seq int64, ok bool) {
	rest, found := strings.CutPrefix(key, g.Run+"-")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, false
	}
	return n, true
}
