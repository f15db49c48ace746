package workload

import (
	"math"
	"testing"
)

func TestMixSharesHoldInEveryWindow(t *testing.T) {
	m := Mix{DepositShare: 0.1, RejectShare: 0.25, Users: 50, Seed: 7}
	// Any window of 1000 consecutive requests has the configured mix within
	// one request (the kinds are spread evenly, not drawn at random).
	for _, start := range []int64{0, 1, 999, 12345, 1_000_003} {
		var deposits, orders, rejected int
		for seq := start; seq < start+1000; seq++ {
			op := m.Op(seq)
			switch op.Kind {
			case Deposit:
				deposits++
			case Order:
				orders++
				if op.WantRejected {
					rejected++
				}
			}
		}
		if deposits < 99 || deposits > 101 {
			t.Errorf("window at %d: %d deposits in 1000 requests, want 100±1", start, deposits)
		}
		if got := float64(rejected) / float64(orders); math.Abs(got-0.25) > 2.0/float64(orders) {
			t.Errorf("window at %d: %d of %d orders rejected (%.3f), want 0.25", start, rejected, orders, got)
		}
	}
}

func TestMixAmountsMatchTheIntendedOutcome(t *testing.T) {
	m := Mix{DepositShare: 0.2, RejectShare: 0.3, Users: 7, Seed: 1}
	users := make([]int, m.Users)
	for seq := int64(0); seq < 20000; seq++ {
		op := m.Op(seq)
		if op.Seq != seq {
			t.Fatalf("Op(%d).Seq = %d", seq, op.Seq)
		}
		if op.User < 0 || op.User >= m.Users {
			t.Fatalf("Op(%d).User = %d, outside 0..%d", seq, op.User, m.Users-1)
		}
		users[op.User]++
		switch {
		case op.Kind == Deposit:
			if op.WantRejected || op.Amount < MinDeposit || op.Amount > MaxDeposit {
				t.Fatalf("deposit %+v: amount outside %d..%d or marked rejected", op, MinDeposit, MaxDeposit)
			}
		case op.WantRejected:
			// Rejected orders must cost more than any balance can reach:
			// the funding plus a deposit for every request of a huge run.
			if op.Amount <= FundAmount+MaxDeposit*1_000_000_000 {
				t.Fatalf("rejected order %+v is affordable", op)
			}
		default:
			if op.Amount < MinPrice || op.Amount > MaxPrice {
				t.Fatalf("order %+v: price outside %d..%d", op, MinPrice, MaxPrice)
			}
		}
	}
	// Every user gets a fair part of the load (the hash spreads them).
	for u, n := range users {
		if n < 20000/m.Users*8/10 || n > 20000/m.Users*12/10 {
			t.Errorf("user %d got %d of 20000 requests, want about %d", u, n, 20000/m.Users)
		}
	}
}

func TestMixIsDeterministicAndSeeded(t *testing.T) {
	a := Mix{DepositShare: 0.1, RejectShare: 0.1, Users: 100, Seed: 1}
	b := a
	b.Seed = 2
	differs := 0
	for seq := int64(0); seq < 1000; seq++ {
		if a.Op(seq) != a.Op(seq) {
			t.Fatalf("Op(%d) is not a pure function", seq)
		}
		if a.Op(seq).User != b.Op(seq).User {
			differs++
		}
	}
	if differs < 900 {
		t.Errorf("another seed changed the user of only %d of 1000 requests", differs)
	}
}

func TestMixEdges(t *testing.T) {
	none := Mix{Users: 3}
	all := Mix{DepositShare: 1, Users: 3}
	rejectAll := Mix{RejectShare: 1, Users: 3}
	for seq := int64(0); seq < 500; seq++ {
		if op := none.Op(seq); op.Kind != Order || op.WantRejected {
			t.Fatalf("shares 0: Op(%d) = %+v, want an affordable order", seq, op)
		}
		if op := all.Op(seq); op.Kind != Deposit {
			t.Fatalf("deposit share 1: Op(%d) = %+v, want a deposit", seq, op)
		}
		if op := rejectAll.Op(seq); op.Kind != Order || !op.WantRejected {
			t.Fatalf("reject share 1: Op(%d) = %+v, want a rejected order", seq, op)
		}
	}
	for _, bad := range []Mix{{Users: 0}, {Users: 1, DepositShare: -0.1}, {Users: 1, RejectShare: 1.5}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	if err := (Mix{Users: 1, DepositShare: 0.5, RejectShare: 0.5}).Validate(); err != nil {
		t.Errorf("Validate of a good mix: %v", err)
	}
}

func TestGeneratorIssuesEachSequenceOnceAndParsesItsKeys(t *testing.T) {
	g := &Generator{Mix: Mix{Users: 5}, Run: "b42"}
	seen := make(map[int64]bool)
	done := make(chan []Op)
	for w := 0; w < 4; w++ {
		go func() {
			var ops []Op
			for i := 0; i < 250; i++ {
				ops = append(ops, g.Next())
			}
			done <- ops
		}()
	}
	for w := 0; w < 4; w++ {
		for _, op := range <-done {
			if seen[op.Seq] {
				t.Fatalf("sequence %d issued twice", op.Seq)
			}
			seen[op.Seq] = true
		}
	}
	if g.Issued() != 1000 || len(seen) != 1000 {
		t.Fatalf("Issued() = %d, distinct = %d, want 1000", g.Issued(), len(seen))
	}
	for seq := range seen {
		if seq < 0 || seq >= 1000 {
			t.Fatalf("sequence %d outside 0..999", seq)
		}
	}

	key := g.RequestID(123)
	if seq, ok := g.ParseRequestID(key); !ok || seq != 123 {
		t.Errorf("ParseRequestID(%q) = %d, %v", key, seq, ok)
	}
	for _, bad := range []string{"b4-123", "b42-", "b42-x", "b42--1", "b42-0123", "other"} {
		if _, ok := g.ParseRequestID(bad); ok {
			t.Errorf("ParseRequestID(%q) accepted a key that is not this run's", bad)
		}
	}
}
