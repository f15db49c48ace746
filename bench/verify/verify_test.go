package verify

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/bench/workload"
)

// world is a correct outcome of sending n requests: what kassa should have
// stored.
func world(t *testing.T, n int) (Facts, Expect) {
	t.Helper()
	g := &workload.Generator{Mix: workload.Mix{DepositShare: 0.2, RejectShare: 0.3, Users: 4, Seed: 9}, Run: "bX"}
	e := Expect{Gen: g, FundKey: func(i int) string { return fmt.Sprintf("bX-fund-%d", i) }}
	f := Facts{Balances: map[string]int64{}}
	for i := range 4 {
		u := fmt.Sprintf("user-%d", i)
		e.Users = append(e.Users, u)
		f.Balances[u] = workload.FundAmount
		f.Ledger = append(f.Ledger, Entry{UserID: u, Kind: "deposit", RequestID: e.FundKey(i), Amount: workload.FundAmount})
	}
	for range n {
		op := g.Next()
		u := e.Users[op.User]
		key := g.RequestID(op.Seq)
		if op.Kind == workload.Deposit {
			f.Balances[u] += op.Amount
			f.Ledger = append(f.Ledger, Entry{UserID: u, Kind: "deposit", RequestID: key, Amount: op.Amount})
			continue
		}
		o := Order{ID: fmt.Sprintf("order-%d", op.Seq), UserID: u, RequestID: key, Price: op.Amount, Notified: true, Status: "paid"}
		subject := "Order " + o.ID + " is paid"
		if op.WantRejected {
			o.Status, subject = "rejected", "Order "+o.ID+" was declined"
		} else {
			f.Balances[u] -= op.Amount
			f.Ledger = append(f.Ledger, Entry{UserID: u, Kind: "withdrawal", RequestID: "order/" + o.ID, OrderID: o.ID, Amount: op.Amount})
		}
		f.Orders = append(f.Orders, o)
		f.Letters = append(f.Letters, Letter{UserID: u, OrderID: o.ID, Subject: subject})
	}
	return f, e
}

func TestCheckAcceptsACorrectRun(t *testing.T) {
	f, e := world(t, 500)
	r := Check(f, e)
	if !r.OK() {
		t.Fatalf("a correct run was refused: %v", r.Problems)
	}
	if r.Orders != 400 || r.Paid != 280 || r.Rejected != 120 || r.Letters != 400 || r.Deposits != 104 {
		t.Errorf("counts %+v, want 400 orders (280 paid, 120 rejected), 400 letters, 100 deposits + 4 fundings", r)
	}
	if r.BalanceSum != r.DepositSum-r.PaidSum || r.PaidSum == 0 {
		t.Errorf("money: %+v", r)
	}
}

func TestCheckCatchesWrongRuns(t *testing.T) {
	firstPaid := func(f Facts) int {
		for i, o := range f.Orders {
			if o.Status == "paid" {
				return i
			}
		}
		t.Fatal("no paid order")
		return 0
	}
	firstRejected := func(f Facts) int {
		for i, o := range f.Orders {
			if o.Status == "rejected" {
				return i
			}
		}
		t.Fatal("no rejected order")
		return 0
	}
	for _, c := range []struct {
		name   string
		mutate func(f *Facts)
		want   string
	}{
		{"a second letter", func(f *Facts) { f.Letters = append(f.Letters, f.Letters[0]) }, "order without exactly one letter"},
		{"a lost letter", func(f *Facts) { f.Letters = f.Letters[1:] }, "order without exactly one letter"},
		{"a pending order", func(f *Facts) { f.Orders[0].Status = "pending" }, "order not final"},
		{"a letter not recorded", func(f *Facts) { f.Orders[3].Notified = false }, "order without notified_at"},
		{"a lost order", func(f *Facts) { i := firstRejected(*f); f.Orders = append(f.Orders[:i], f.Orders[i+1:]...) }, "orders missing or extra"},
		{"a double charge", func(f *Facts) {
			for _, t := range f.Ledger {
				if t.Kind == "withdrawal" {
					f.Ledger = append(f.Ledger, t)
					f.Balances[t.UserID] -= t.Amount
					return
				}
			}
		}, "paid order without exactly one withdrawal"},
		{"money created", func(f *Facts) { f.Balances["user-1"] += 7 }, "money not conserved"},
		{"a balance off its ledger", func(f *Facts) { f.Balances["user-2"]-- }, "balance is not its ledger's sum"},
		{"a rejected order charged", func(f *Facts) {
			i := firstRejected(*f)
			o := f.Orders[i]
			f.Ledger = append(f.Ledger, Entry{UserID: o.UserID, Kind: "withdrawal", OrderID: o.ID, Amount: o.Price})
		}, "money taken for an unpaid order"},
		{"an affordable order rejected", func(f *Facts) {
			i := firstPaid(*f)
			f.Orders[i].Status = "rejected"
		}, "affordable order rejected"},
		{"an unaffordable order paid", func(f *Facts) {
			i := firstRejected(*f)
			f.Orders[i].Status = "paid"
		}, "unaffordable order not rejected"},
		{"a letter contradicting its order", func(f *Facts) {
			for i, l := range f.Letters {
				if strings.Contains(l.Subject, "is paid") {
					f.Letters[i].Subject = "Order x was declined"
					return
				}
			}
		}, "letter contradicts the order"},
		{"a deposit applied twice", func(f *Facts) {
			for _, t := range f.Ledger {
				if t.Kind == "deposit" && !strings.Contains(t.RequestID, "fund") {
					f.Ledger = append(f.Ledger, t)
					f.Balances[t.UserID] += t.Amount
					return
				}
			}
		}, "request stored twice"},
		{"a deposit lost", func(f *Facts) {
			for i, t := range f.Ledger {
				if t.Kind == "deposit" && !strings.Contains(t.RequestID, "fund") {
					f.Ledger = append(f.Ledger[:i], f.Ledger[i+1:]...)
					f.Balances[t.UserID] -= t.Amount
					return
				}
			}
		}, "deposits missing or extra"},
		{"an order with other terms", func(f *Facts) { f.Orders[firstPaid(*f)].Price++ }, "order terms differ from the request"},
		{"an order nobody sent", func(f *Facts) {
			f.Orders = append(f.Orders, Order{ID: "x", UserID: "user-0", RequestID: "other-1", Status: "rejected", Notified: true, Price: 5})
			f.Letters = append(f.Letters, Letter{UserID: "user-0", OrderID: "x", Subject: "Order x was declined"})
		}, "order the benchmark did not send"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, e := world(t, 300)
			c.mutate(&f)
			r := Check(f, e)
			if r.OK() {
				t.Fatalf("%s was accepted", c.name)
			}
			found := false
			for _, p := range r.Problems {
				if strings.HasPrefix(p, c.want+":") {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %q do not name %q", r.Problems, c.want)
			}
		})
	}
}
