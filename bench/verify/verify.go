// Package verify checks, after the load, that kassa did the right thing
// with every request: it reads the four services' databases directly and
// compares them with each other and with what the workload sent. A run that
// was fast but wrong fails here.
package verify

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/kassa-dev/kassa/bench/workload"
	"github.com/lib/pq"
)

// Order is an orders row.
type Order struct {
	ID, UserID, Status, RequestID string
	Price                         int64
	Notified                      bool
}

// Entry is a ledger (transactions) row.
type Entry struct {
	UserID, Kind, RequestID, OrderID string
	Amount                           int64
}

// Letter is a notifications row.
type Letter struct {
	UserID, OrderID, Subject string
}

// Facts are the databases' contents.
type Facts struct {
	Orders   []Order
	Ledger   []Entry
	Letters  []Letter
	Balances map[string]int64 // user id → balance
}

// Expect is what the benchmark sent.
type Expect struct {
	Gen *workload.Generator
	// Users are the pre-created users' ids, indexed as workload.Op.User.
	Users []string
	// FundKey is the idempotency key of user i's funding deposit
	// (workload.FundAmount each).
	FundKey func(i int) string
}

// Report is the outcome of the check.
type Report struct {
	Orders   int64 `json:"orders"`
	Paid     int64 `json:"paid"`
	Rejected int64 `json:"rejected"`
	Letters  int64 `json:"letters"`
	Deposits int64 `json:"deposits"`
	// Money: the balances must add up to the deposits less the paid orders.
	BalanceSum int64 `json:"balance_sum"`
	DepositSum int64 `json:"deposit_sum"`
	PaidSum    int64 `json:"paid_sum"`
	// Problems lists every kind of violation with a count and examples;
	// empty when the run was correct.
	Problems []string `json:"problems"`
}

// OK reports a correct run.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// problems collects violations by kind, with a few examples of each.
type problems struct {
	count    map[string]int
	examples map[string][]string
}

func (p *problems) add(kind, format string, args ...any) {
	if p.count == nil {
		p.count, p.examples = make(map[string]int), make(map[string][]string)
	}
	p.count[kind]++
	if len(p.examples[kind]) < 3 {
		p.examples[kind] = append(p.examples[kind], fmt.Sprintf(format, args...))
	}
}

func (p *problems) list() []string {
	var out []string
	for kind, n := range p.count {
		out = append(out, fmt.Sprintf("%s: %d (e.g. %s)", kind, n, strings.Join(p.examples[kind], "; ")))
	}
	sort.Strings(out)
	return out
}

// Check compares the facts with each other and with what was sent.
func Check(f Facts, e Expect) Report {
	var p problems
	var r Report
	issued := e.Gen.Issued()
	userIndex := make(map[string]int, len(e.Users))
	for i, u := range e.Users {
		userIndex[u] = i
	}
	// What each user's balance must be: funding, plus its deposits, less
	// its paid orders, recomputed from the workload.
	want := make(map[string]int64, len(e.Users))
	for _, u := range e.Users {
		want[u] = workload.FundAmount
	}
	var wantOrders, wantDeposits int64
	for seq := range issued {
		op := e.Gen.Op(seq)
		u := e.Users[op.User]
		switch {
		case op.Kind == workload.Deposit:
			wantDeposits++
			want[u] += op.Amount
		case !op.WantRejected:
			wantOrders++
			want[u] -= op.Amount
		default:
			wantOrders++
		}
	}

	// Orders: each one the workload sent, exactly once, final, with the
	// right outcome.
	orders := make(map[string]Order, len(f.Orders))
	seen := make(map[int64]bool, len(f.Orders))
	for _, o := range f.Orders {
		orders[o.ID] = o
		r.Orders++
		switch o.Status {
		case "paid":
			r.Paid++
			r.PaidSum += o.Price
		case "rejected":
			r.Rejected++
		default:
			p.add("order not final", "%s is %s", o.ID, o.Status)
		}
		if !o.Notified {
			p.add("order without notified_at", "%s", o.ID)
		}
		seq, ok := e.Gen.ParseRequestID(o.RequestID)
		if !ok || seq >= issued {
			p.add("order the benchmark did not send", "%s with key %q", o.ID, o.RequestID)
			continue
		}
		if seen[seq] {
			p.add("request stored twice", "key %q", o.RequestID)
		}
		seen[seq] = true
		op := e.Gen.Op(seq)
		switch {
		case op.Kind != workload.Order:
			p.add("order made from a deposit's key", "%q", o.RequestID)
		case o.UserID != e.Users[op.User] || o.Price != op.Amount:
			p.add("order terms differ from the request", "%s: user %s price %d, sent user %s price %d",
				o.ID, o.UserID, o.Price, e.Users[op.User], op.Amount)
		case op.WantRejected && o.Status != "rejected":
			p.add("unaffordable order not rejected", "%s (price %d) is %s", o.ID, o.Price, o.Status)
		case !op.WantRejected && o.Status == "rejected":
			p.add("affordable order rejected", "%s (price %d)", o.ID, o.Price)
		}
	}
	if r.Orders != wantOrders {
		p.add("orders missing or extra", "%d stored, %d sent", r.Orders, wantOrders)
	}

	// Letters: exactly one per order, to its buyer, announcing its outcome.
	letters := make(map[string]int, len(f.Letters))
	for _, l := range f.Letters {
		r.Letters++
		o, ok := orders[l.OrderID]
		if !ok {
			p.add("letter for no order", "order %q", l.OrderID)
			continue
		}
		letters[l.OrderID]++
		if l.UserID != o.UserID {
			p.add("letter to the wrong user", "order %s", o.ID)
		}
		if wantWord := map[string]string{"paid": "is paid", "rejected": "was declined"}[o.Status]; wantWord != "" && !strings.Contains(l.Subject, wantWord) {
			p.add("letter contradicts the order", "order %s is %s, letter %q", o.ID, o.Status, l.Subject)
		}
	}
	for id := range orders {
		if n := letters[id]; n != 1 {
			p.add("order without exactly one letter", "%s has %d", id, n)
		}
	}

	// Ledger: one withdrawal per paid order for its price, each deposit the
	// workload sent exactly once, each user funded once.
	withdrawals := make(map[string]int, r.Paid)
	funded := make(map[string]int, len(e.Users))
	fundKeys := make(map[string]int, len(e.Users))
	for i := range e.Users {
		fundKeys[e.FundKey(i)] = i
	}
	depositSeen := make(map[int64]bool)
	ledger := make(map[string]int64, len(e.Users))
	for _, t := range f.Ledger {
		switch t.Kind {
		case "withdrawal":
			ledger[t.UserID] -= t.Amount
			o, ok := orders[t.OrderID]
			switch {
			case !ok:
				p.add("withdrawal for no order", "%q", t.RequestID)
			case o.Status != "paid":
				p.add("money taken for an unpaid order", "order %s is %s", o.ID, o.Status)
			case o.Price != t.Amount || o.UserID != t.UserID:
				p.add("withdrawal differs from its order", "order %s: price %d, withdrawn %d", o.ID, o.Price, t.Amount)
			}
			withdrawals[t.OrderID]++
		case "deposit":
			ledger[t.UserID] += t.Amount
			r.Deposits++
			r.DepositSum += t.Amount
			if i, ok := fundKeys[t.RequestID]; ok {
				funded[e.Users[i]]++
				if t.Amount != workload.FundAmount || t.UserID != e.Users[i] {
					p.add("funding differs", "%q", t.RequestID)
				}
				continue
			}
			seq, ok := e.Gen.ParseRequestID(t.RequestID)
			if !ok || seq >= issued {
				p.add("deposit the benchmark did not send", "%q", t.RequestID)
				continue
			}
			op := e.Gen.Op(seq)
			if op.Kind != workload.Deposit || t.Amount != op.Amount || t.UserID != e.Users[op.User] {
				p.add("deposit differs from the request", "%q: %d to %s", t.RequestID, t.Amount, t.UserID)
			}
			if depositSeen[seq] {
				p.add("request stored twice", "deposit %q", t.RequestID)
			}
			depositSeen[seq] = true
		default:
			p.add("unknown ledger entry", "%q kind %q", t.RequestID, t.Kind)
		}
	}
	for id, o := range orders {
		if o.Status == "paid" && withdrawals[id] != 1 {
			p.add("paid order without exactly one withdrawal", "%s has %d", id, withdrawals[id])
		}
	}
	if n := int64(len(depositSeen)); n != wantDeposits {
		p.add("deposits missing or extra", "%d stored, %d sent", n, wantDeposits)
	}
	for _, u := range e.Users {
		if funded[u] != 1 {
			p.add("user not funded exactly once", "%s funded %d times", u, funded[u])
		}
	}

	// Money: per account and in total.
	for u, b := range f.Balances {
		r.BalanceSum += b
		if b != ledger[u] {
			p.add("balance is not its ledger's sum", "%s: balance %d, ledger %d", u, b, ledger[u])
		}
		if _, ours := userIndex[u]; ours && b != want[u] {
			p.add("balance differs from what was sent", "%s: balance %d, want %d", u, b, want[u])
		}
	}
	for _, u := range e.Users {
		if _, ok := f.Balances[u]; !ok {
			p.add("user without an account", "%s", u)
		}
	}
	if r.BalanceSum != r.DepositSum-r.PaidSum {
		p.add("money not conserved", "balances %d, deposits %d - paid orders %d = %d",
			r.BalanceSum, r.DepositSum, r.PaidSum, r.DepositSum-r.PaidSum)
	}
	r.Problems = p.list()
	return r
}

// DBs are the services' databases.
type DBs struct {
	Order, Billing, Notification *sql.DB
}

// Load reads the facts of users: the benchmark's own, whatever else the
// databases hold (a preloaded history, say).
func Load(ctx context.Context, d DBs, users []string) (Facts, error) {
	f := Facts{Balances: make(map[string]int64)}
	ids := pq.Array(users)
	rows, err := d.Order.QueryContext(ctx, `SELECT id, user_id, price, status, request_id, notified_at IS NOT NULL FROM orders WHERE user_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return f, fmt.Errorf("read orders: %w", err)
	}
	for rows.Next() {
		var o Order
		if err := rows.Scan(&o.ID, &o.UserID, &o.Price, &o.Status, &o.RequestID, &o.Notified); err != nil {
			rows.Close()
			return f, err
		}
		f.Orders = append(f.Orders, o)
	}
	if err := closeRows(rows); err != nil {
		return f, err
	}
	// An order's payment is keyed by its order; its request_id may be NULL.
	rows, err = d.Billing.QueryContext(ctx, `SELECT user_id, kind, amount, coalesce(request_id, ''), coalesce(order_id::text, '') FROM transactions WHERE user_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return f, fmt.Errorf("read ledger: %w", err)
	}
	for rows.Next() {
		var t Entry
		if err := rows.Scan(&t.UserID, &t.Kind, &t.Amount, &t.RequestID, &t.OrderID); err != nil {
			rows.Close()
			return f, err
		}
		f.Ledger = append(f.Ledger, t)
	}
	if err := closeRows(rows); err != nil {
		return f, err
	}
	rows, err = d.Billing.QueryContext(ctx, `SELECT user_id, balance FROM accounts WHERE user_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return f, fmt.Errorf("read accounts: %w", err)
	}
	for rows.Next() {
		var u string
		var b int64
		if err := rows.Scan(&u, &b); err != nil {
			rows.Close()
			return f, err
		}
		f.Balances[u] = b
	}
	if err := closeRows(rows); err != nil {
		return f, err
	}
	rows, err = d.Notification.QueryContext(ctx, `SELECT user_id, coalesce(order_id::text, ''), subject FROM notifications WHERE user_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return f, fmt.Errorf("read letters: %w", err)
	}
	for rows.Next() {
		var l Letter
		if err := rows.Scan(&l.UserID, &l.OrderID, &l.Subject); err != nil {
			rows.Close()
			return f, err
		}
		f.Letters = append(f.Letters, l)
	}
	return f, closeRows(rows)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// Unfinished counts users' orders that are pending or have no letter yet.
func Unfinished(ctx context.Context, order *sql.DB, users []string) (int64, error) {
	var n int64
	err := order.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE user_id = ANY($1::uuid[]) AND (status = 'pending' OR notified_at IS NULL)`, pq.Array(users)).Scan(&n)
	return n, err
}
