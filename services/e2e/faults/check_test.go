package faults

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The invariants, checked after all scenarios in each service's database
// and through the API. Each failure names the invariant and shows the
// first offending rows.

// violations collects what broke, by invariant.
type violations struct {
	order []string
	byInv map[string][]string
}

func (v *violations) add(invariant, format string, args ...any) {
	if v.byInv == nil {
		v.byInv = map[string][]string{}
	}
	if _, ok := v.byInv[invariant]; !ok {
		v.order = append(v.order, invariant)
	}
	v.byInv[invariant] = append(v.byInv[invariant], fmt.Sprintf(format, args...))
}

func (v *violations) report(t *testing.T) {
	t.Helper()
	for _, inv := range v.order {
		items := v.byInv[inv]
		shown := items[:min(len(items), 8)]
		t.Errorf("INVARIANT BROKEN: %s: %d cases, e.g.\n\t%s", inv, len(items), strings.Join(shown, "\n\t"))
	}
}

type orderRow struct {
	userID, requestID, status string
	price                     int64
}

// orderStatuses reads the orders recorded since since (all of them for the
// zero time).
func orderStatuses(ctx context.Context, db *sql.DB, since time.Time) (map[string]orderRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT id::text, user_id::text, request_id, price, status FROM orders WHERE create_time >= $1`, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]orderRow{}
	for rows.Next() {
		var id string
		var o orderRow
		if err := rows.Scan(&id, &o.userID, &o.requestID, &o.price, &o.status); err != nil {
			return nil, err
		}
		out[id] = o
	}
	return out, rows.Err()
}

// countByOrder runs a query of (order id, count) rows.
func countByOrder(ctx context.Context, db *sql.DB, query string) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// perOrder is what another service holds for one order.
type perOrder struct {
	count            int
	amount           int64
	minUser, maxUser string
}

func perOrderRows(ctx context.Context, db *sql.DB, query string) (map[string]perOrder, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]perOrder{}
	for rows.Next() {
		var id string
		var p perOrder
		if err := rows.Scan(&id, &p.count, &p.amount, &p.minUser, &p.maxUser); err != nil {
			return nil, err
		}
		out[id] = p
	}
	return out, rows.Err()
}

type accountRow struct {
	balance, ledgerSum, minAfter, depositSum int64
	withdrawalSum, refundSum                 int64
	deposits, entries                        int
}

func accounts(ctx context.Context, db *sql.DB) (map[string]accountRow, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT a.user_id::text, a.balance,
		       COALESCE(sum(CASE t.kind WHEN 'withdrawal' THEN -t.amount ELSE t.amount END), 0),
		       COALESCE(min(t.balance_after), 0),
		       COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'deposit'), 0),
		       COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'withdrawal'), 0),
		       COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'refund'), 0),
		       count(t.id) FILTER (WHERE t.kind = 'deposit'),
		       count(t.id)
		FROM accounts a LEFT JOIN transactions t ON t.user_id = a.user_id
		GROUP BY a.user_id, a.balance`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]accountRow{}
	for rows.Next() {
		var id string
		var a accountRow
		if err := rows.Scan(&id, &a.balance, &a.ledgerSum, &a.minAfter, &a.depositSum, &a.withdrawalSum, &a.refundSum, &a.deposits, &a.entries); err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, rows.Err()
}

// parkedColumns are the names a "parked since" column may have; the check
// runs on every table of a service's schema that has one.
var parkedColumns = []string{"parked_at", "park_time", "parked_time", "pay_parked_time"}

// wantParked are the columns the check must find: a renamed column would
// otherwise turn the check off without a word.
var wantParked = map[string][]string{
	"user":  {"users.park_time"},
	"order": {"order_letters.parked_time", "orders.pay_parked_time"},
}

// parked counts parked rows per table.column in db; columns lists what was
// checked, so the report can say when there was nothing to check.
func parked(ctx context.Context, db *sql.DB) (counts map[string]int, columns []string, err error) {
	rows, err := db.QueryContext(ctx, `
		SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = ANY (string_to_array($1, ','))
		ORDER BY 1, 2`, strings.Join(parkedColumns, ","))
	if err != nil {
		return nil, nil, err
	}
	var found [][2]string
	for rows.Next() {
		var tc [2]string
		if err := rows.Scan(&tc[0], &tc[1]); err != nil {
			rows.Close()
			return nil, nil, err
		}
		found = append(found, tc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	counts = map[string]int{}
	for _, tc := range found {
		name := tc[0] + "." + tc[1]
		columns = append(columns, name)
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s IS NOT NULL`, quoteIdent(tc[0]), quoteIdent(tc[1]))
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, nil, err
		}
		counts[name] = n
	}
	return counts, columns, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// checkDatabases checks the invariants in SQL.
func (sys *system) checkDatabases(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	var v violations
	orders, err := orderStatuses(ctx, sys.db["order"], time.Time{})
	if err != nil {
		t.Fatalf("read orders: %v", err)
	}
	debits, err := perOrderRows(ctx, sys.db["billing"], `
		SELECT order_id::text, count(*), sum(amount), min(user_id::text), max(user_id::text)
		FROM transactions WHERE kind = 'withdrawal' AND order_id IS NOT NULL GROUP BY order_id`)
	if err != nil {
		t.Fatalf("read withdrawals: %v", err)
	}
	// A refund names the withdrawal it gives back; the withdrawal names
	// the order.
	refunds, err := perOrderRows(ctx, sys.db["billing"], `
		SELECT w.order_id::text, count(*), sum(r.amount), min(r.user_id::text), max(r.user_id::text)
		FROM transactions r JOIN transactions w ON w.id = r.refund_of
		WHERE r.kind = 'refund' AND w.kind = 'withdrawal' AND w.order_id IS NOT NULL GROUP BY w.order_id`)
	if err != nil {
		t.Fatalf("read refunds: %v", err)
	}
	// The outcome letter and the cancellation letter are told apart by
	// the key the order service sends each under.
	letters, err := perOrderRows(ctx, sys.db["notification"], `
		SELECT order_id::text, count(*), 0::bigint, min(user_id::text), max(user_id::text)
		FROM notifications WHERE order_id IS NOT NULL AND request_id LIKE 'order/%/letter' GROUP BY order_id`)
	if err != nil {
		t.Fatalf("read letters: %v", err)
	}
	refundLetters, err := perOrderRows(ctx, sys.db["notification"], `
		SELECT order_id::text, count(*), 0::bigint, min(user_id::text), max(user_id::text)
		FROM notifications WHERE order_id IS NOT NULL AND request_id LIKE 'order/%/refund-letter/%' GROUP BY order_id`)
	if err != nil {
		t.Fatalf("read refund letters: %v", err)
	}
	cancelLetters, err := perOrderRows(ctx, sys.db["notification"], `
		SELECT order_id::text, count(*), 0::bigint, min(user_id::text), max(user_id::text)
		FROM notifications WHERE order_id IS NOT NULL AND request_id LIKE 'order/%/cancel-letter' GROUP BY order_id`)
	if err != nil {
		t.Fatalf("read cancellation letters: %v", err)
	}
	asked := map[string]bool{} // orders the suite cancelled
	for _, c := range sys.cancels {
		asked[c.orderID] = true
	}
	parts := sys.partialsByOrder() // of them, the partial refunds before the cancellation
	accts, err := accounts(ctx, sys.db["billing"])
	if err != nil {
		t.Fatalf("read accounts: %v", err)
	}

	// What the clients were told, against what was recorded.
	byKey := map[[2]string]string{} // (user, request id) → order id
	for id, o := range orders {
		byKey[[2]string{o.userID, o.requestID}] = id
	}
	placedKeys := map[[2]string]bool{}
	for _, p := range sys.placed {
		k := [2]string{p.userID, p.key}
		placedKeys[k] = true
		id, ok := byKey[k]
		switch {
		case !ok && p.err == nil:
			v.add("every answered order is recorded under its key", "%s %s: answered %s %s, no order with that key", p.via, p.key, p.out.ID, p.out.Status)
		case !ok:
			// Never recorded and never answered: the client's own error
			// was reported by its scenario.
		case p.err == nil && id != p.out.ID:
			v.add("a retried key answers the order it recorded", "%s %s: answered order %s, recorded %s", p.via, p.key, p.out.ID, id)
		case p.err == nil && p.out.Status == "STATUS_PAID" && orders[id].status == "cancelled" && asked[id]:
			// Paid when it was answered, cancelled by the suite since.
		case p.err == nil && "STATUS_"+strings.ToUpper(orders[id].status) != p.out.Status:
			v.add("the answered status is the recorded one", "%s order %s: answered %s, recorded %s", p.via, id, p.out.Status, orders[id].status)
		}
	}
	for id, o := range orders {
		if !placedKeys[[2]string{o.userID, o.requestID}] {
			v.add("no order without a client key (a dropped key makes a second order)", "order %s of %s under key %q", id, o.userID, o.requestID)
		}
		if o.status != "paid" && o.status != "rejected" && o.status != "cancelled" {
			v.add("every order final", "order %s is %s", id, o.status)
		}
		tookMoney := o.status == "paid" || o.status == "cancelled"
		d := debits[id]
		switch {
		case tookMoney && (d.count != 1 || d.amount != o.price || d.minUser != o.userID || d.maxUser != o.userID):
			v.add("each paid order exactly one withdrawal of its price from its buyer", "order %s (price %d, user %s): %d withdrawals, %d in all, users %s..%s", id, o.price, o.userID, d.count, d.amount, d.minUser, d.maxUser)
		case !tookMoney && d.count != 0:
			v.add("each order that is not paid has no withdrawal", "order %s is %s with %d withdrawals (%d)", id, o.status, d.count, d.amount)
		}
		l := letters[id]
		if l.count != 1 || l.minUser != o.userID || l.maxUser != o.userID {
			v.add("each order exactly one outcome letter, to its buyer", "order %s (%s, user %s): %d letters, users %s..%s", id, o.status, o.userID, l.count, l.minUser, l.maxUser)
		}
		r, cl := refunds[id], cancelLetters[id]
		switch {
		case o.status == "cancelled" && !asked[id]:
			v.add("no order cancelled that no client cancelled", "order %s of %s is cancelled", id, o.userID)
		case asked[id] && o.status != "cancelled":
			v.add("every cancellation ends cancelled", "order %s of %s is %s", id, o.userID, o.status)
		}
		switch {
		case o.status == "cancelled" && (r.count != 1+parts[id] || r.amount != o.price || r.minUser != o.userID || r.maxUser != o.userID):
			v.add("each cancelled order refunds adding up to exactly its price, one per refund asked (the cancellation and any partial refund before it), of its withdrawal, to its buyer", "order %s (price %d, user %s, %d partial refunds): %d refunds, %d in all, users %s..%s", id, o.price, o.userID, parts[id], r.count, r.amount, r.minUser, r.maxUser)
		case o.status != "cancelled" && r.count != 0:
			v.add("an order that is not cancelled has no refund", "order %s is %s with %d refunds (%d)", id, o.status, r.count, r.amount)
		}
		switch {
		case o.status == "cancelled" && (cl.count != 1 || cl.minUser != o.userID || cl.maxUser != o.userID):
			v.add("each cancelled order exactly one cancellation letter, to its buyer", "order %s (user %s): %d cancellation letters, users %s..%s", id, o.userID, cl.count, cl.minUser, cl.maxUser)
		case o.status != "cancelled" && cl.count != 0:
			v.add("an order that is not cancelled has no cancellation letter", "order %s is %s with %d", id, o.status, cl.count)
		}
		if rl := refundLetters[id]; rl.count != parts[id] || (rl.count > 0 && (rl.minUser != o.userID || rl.maxUser != o.userID)) {
			v.add("each partial refund exactly one letter, to its buyer", "order %s (user %s, %d partial refunds): %d refund letters, users %s..%s", id, o.userID, parts[id], rl.count, rl.minUser, rl.maxUser)
		}
	}
	var looseRefunds int
	if err := sys.db["billing"].QueryRowContext(ctx, `
		SELECT count(*) FROM transactions r LEFT JOIN transactions w ON w.id = r.refund_of
		WHERE r.kind = 'refund' AND (w.kind IS DISTINCT FROM 'withdrawal' OR w.order_id IS NULL)`).Scan(&looseRefunds); err != nil {
		t.Fatalf("count refunds of no order: %v", err)
	}
	if looseRefunds > 0 {
		v.add("every refund gives back an order's withdrawal (the suite refunds only through orders)", "%d refunds of no order's withdrawal", looseRefunds)
	}
	for id, d := range debits {
		if _, ok := orders[id]; !ok {
			v.add("no withdrawal for an order that does not exist", "withdrawals for order %s: %d of %d", id, d.count, d.amount)
		}
	}
	var loose int
	if err := sys.db["billing"].QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE kind = 'withdrawal' AND order_id IS NULL`).Scan(&loose); err != nil {
		t.Fatalf("count withdrawals without an order: %v", err)
	}
	if loose > 0 {
		v.add("no withdrawal without an order (the suite withdraws only through orders)", "%d withdrawals without order_id", loose)
	}

	// Money: every balance is its ledger, never negative, and the deposits
	// applied once each.
	for _, u := range sys.users {
		a, ok := accts[u.id]
		if !ok {
			v.add("every user has an account", "user %s has none", u.id)
			continue
		}
		if a.balance != a.ledgerSum || a.balance != a.depositSum-a.withdrawalSum+a.refundSum {
			v.add("every balance equals the sum of its ledger (deposits - withdrawals + refunds)", "user %s: balance %d, ledger %d, deposits %d - withdrawals %d + refunds %d", u.id, a.balance, a.ledgerSum, a.depositSum, a.withdrawalSum, a.refundSum)
		}
		if a.balance < 0 || a.minAfter < 0 {
			v.add("no balance is ever negative", "user %s: balance %d, lowest balance_after %d", u.id, a.balance, a.minAfter)
		}
		if a.deposits != sys.deposits[u.id] || a.depositSum != sys.deposited[u.id] {
			v.add("each deposit applied exactly once", "user %s: %d deposits of %d in all, the clients made %d of %d", u.id, a.deposits, a.depositSum, sys.deposits[u.id], sys.deposited[u.id])
		}
	}

	// Parked work, where the schema has it.
	for _, name := range []string{"user", "billing", "order", "notification"} {
		counts, columns, err := parked(ctx, sys.db[name])
		if err != nil {
			t.Fatalf("parked items in %s: %v", name, err)
		}
		if len(columns) == 0 {
			t.Logf("nothing parked in %s: not checked, its schema has no %s column", name, strings.Join(parkedColumns, "/"))
		}
		for _, want := range wantParked[name] {
			if !slices.Contains(columns, want) {
				v.add("nothing parked", "%s: no column %s to check (found %v)", name, want, columns)
			}
		}
		sort.Strings(columns)
		for _, c := range columns {
			if counts[c] > 0 {
				v.add("nothing parked", "%s: %d rows with %s set", name, counts[c], c)
			}
		}
		if len(columns) > 0 {
			t.Logf("nothing parked in %s: checked %s", name, strings.Join(columns, ", "))
		}
	}
	v.report(t)
	var cancelledN int
	for _, o := range orders {
		if o.status == "cancelled" {
			cancelledN++
		}
	}
	var letterN int
	for _, l := range cancelLetters {
		letterN += l.count
	}
	t.Logf("SQL: %d orders, %d with withdrawals, %d with letters, %d accounts; %d cancelled of %d the suite cancelled, %d with refunds, %d cancellation letters", len(orders), len(debits), len(letters), len(accts), cancelledN, len(sys.cancels), len(refunds), letterN)
}
