package overload

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Balances reads the balances of the accounts of users (by id).
func Balances(ctx context.Context, billing *sql.DB, users []string) (map[string]int64, error) {
	rows, err := billing.QueryContext(ctx, `SELECT user_id::text, balance FROM accounts WHERE user_id::text = ANY($1)`, pq.Array(users))
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var u string
		var b int64
		if err := rows.Scan(&u, &b); err != nil {
			return nil, err
		}
		out[u] = b
	}
	return out, rows.Err()
}

// Report is the outcome of Check.
type Report struct {
	Orders int `json:"orders"`
	Paid   int `json:"paid"`
	// Resumed counts orders left pending by a 503 or a failure that a
	// retry with their key finished, as a client following the 503 would.
	Resumed  int      `json:"resumed"`
	Problems []string `json:"problems,omitempty"`
}

// dbOrder is an orders row of the run.
type dbOrder struct {
	id, user, status string
	price            int64
}

// Check verifies run r against the databases, given its users' balances
// before it: a paid answer is exactly one paid order, a 429 left no order,
// no order was declined, each paid order has one withdrawal of its price,
// and each balance fell by exactly the paid orders. Orders left pending
// (the answer was a 503 or none) are first retried with their key.
func Check(ctx context.Context, s *Sender, orders, billing *sql.DB, r *Result, before map[string]int64) (Report, error) {
	var rep Report
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	read := func() (map[string]dbOrder, error) {
		rows, err := orders.QueryContext(ctx, `SELECT id::text, user_id::text, status, price, request_id FROM orders WHERE request_id LIKE $1`,
			escapeLike(r.prefix)+"%")
		if err != nil {
			return nil, fmt.Errorf("read the run's orders: %w", err)
		}
		defer rows.Close()
		out := map[string]dbOrder{}
		for rows.Next() {
			var o dbOrder
			var key string
			if err := rows.Scan(&o.id, &o.user, &o.status, &o.price, &key); err != nil {
				return nil, err
			}
			out[key] = o
		}
		return out, rows.Err()
	}
	stored, err := read()
	if err != nil {
		return rep, err
	}
	for key, o := range stored {
		if o.status != "pending" {
			continue
		}
		a := r.keys[key]
		for attempt := range 5 {
			if attempt > 0 { // back off as Retry-After asks, in steps
				select {
				case <-ctx.Done():
					return rep, ctx.Err()
				case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			label, _ := s.order(rctx, r.users[a.user], r.price, key)
			cancel()
			if label == LabelPaid {
				rep.Resumed++
				break
			}
		}
	}
	if stored, err = read(); err != nil {
		return rep, err
	}
	paidBy := map[string]int64{}
	var paidIDs []string
	for key, o := range stored {
		rep.Orders++
		a, sent := r.keys[key]
		switch {
		case !sent:
			problem("order %s under key %q the run did not send", o.id, key)
		case o.status == "paid":
			rep.Paid++
			paidBy[o.user] += o.price
			paidIDs = append(paidIDs, o.id)
		case o.status == "rejected":
			problem("order %s declined under overload (answer %q)", o.id, a.label)
		default:
			problem("order %s still %s after retries with its key", o.id, o.status)
		}
		if a.label == LabelShed && a.status == "429" {
			problem("order %s recorded although its request got 429", o.id)
		}
	}
	for key, a := range r.keys {
		if a.label == LabelPaid {
			if o, ok := stored[key]; !ok || o.status != "paid" {
				problem("paid answer for key %q without a paid order", key)
			}
		}
	}
	// Money: one withdrawal of the price per paid order, and nothing else.
	var withdrawn, entries int64
	err = billing.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM transactions WHERE kind = 'withdrawal' AND order_id::text = ANY($1)`,
		pq.Array(paidIDs)).Scan(&entries, &withdrawn)
	if err != nil {
		return rep, fmt.Errorf("read the run's withdrawals: %w", err)
	}
	var want int64
	for _, v := range paidBy {
		want += v
	}
	if entries != int64(len(paidIDs)) || withdrawn != want {
		problem("%d withdrawals of %d for %d paid orders of %d", entries, withdrawn, len(paidIDs), want)
	}
	users := slices.Sorted(maps.Keys(before))
	after, err := Balances(ctx, billing, users)
	if err != nil {
		return rep, err
	}
	for _, u := range users {
		if got := before[u] - after[u]; got != paidBy[u] {
			problem("account of %s: balance fell by %d, its paid orders cost %d", u, got, paidBy[u])
		}
	}
	return rep, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
