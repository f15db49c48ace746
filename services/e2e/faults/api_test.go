package faults

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The same invariants as a client sees them through the REST API.

// listAll reads every page of a list route; field names the list in the
// response body.
func (c *restClient) listAll(ctx context.Context, path, field string) ([]map[string]any, error) {
	var out []map[string]any
	token := ""
	for {
		q := url.Values{"pageSize": {"1000"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		var page map[string]any
		if err := c.call(ctx, "list "+path, "GET", path+"?"+q.Encode(), "", nil, &page); err != nil {
			return nil, err
		}
		items, _ := page[field].([]any)
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %s holds %T", path, field, it)
			}
			out = append(out, m)
		}
		if token, _ = page["nextPageToken"].(string); token == "" {
			return out, nil
		}
	}
}

// int64Of reads a JSON int64: protojson writes it as a string and omits
// zero.
func int64Of(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	default:
		return 0, fmt.Errorf("not a number: %v", v)
	}
}

// checkAPI checks balances, ledgers, orders and letters of every user
// through the gateway against each other and against the databases.
func (sys *system) checkAPI(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	var v violations
	accts, err := accounts(ctx, sys.db["billing"])
	if err != nil {
		t.Fatalf("read accounts: %v", err)
	}
	orders, err := orderStatuses(ctx, sys.db["order"], time.Time{})
	if err != nil {
		t.Fatalf("read orders: %v", err)
	}
	perUser := map[string]int{}
	for _, o := range orders {
		perUser[o.userID]++
	}
	partials := sys.partialsByOrder()
	var cancelledN, refundsN, lettersN int
	for _, u := range sys.users {
		ctx := asUser(ctx, u)
		var acct map[string]any
		if err := sys.rest.call(ctx, "account of "+u.id, "GET", "/v1/users/"+u.id+"/account", "", nil, &acct); err != nil {
			t.Fatal(err)
		}
		balance, err := int64Of(acct["balance"])
		if err != nil {
			t.Fatalf("account of %s: %v", u.id, err)
		}
		if balance != accts[u.id].balance {
			v.add("API: the balance is the stored one", "user %s: API %d, SQL %d", u.id, balance, accts[u.id].balance)
		}
		txs, err := sys.rest.listAll(ctx, "/v1/users/"+u.id+"/account/transactions", "transactions")
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		withdrawalOf := map[string]string{}        // order id → its withdrawal's id
		refundsOf := map[string][]map[string]any{} // withdrawal id → its refunds
		for _, tx := range txs {
			amount, err := int64Of(tx["amount"])
			if err != nil {
				t.Fatalf("transaction of %s: %v", u.id, err)
			}
			switch tx["kind"] {
			case "KIND_DEPOSIT", "KIND_REFUND":
				sum += amount
			default:
				sum -= amount
			}
			switch tx["kind"] {
			case "KIND_WITHDRAWAL":
				if id, _ := tx["orderId"].(string); id != "" {
					withdrawalOf[id], _ = tx["id"].(string)
				}
			case "KIND_REFUND":
				of, _ := tx["refundOf"].(string)
				refundsOf[of] = append(refundsOf[of], tx)
			}
		}
		if sum != balance || len(txs) != accts[u.id].entries {
			v.add("API: the balance equals the sum of the listed ledger", "user %s: balance %d, %d entries listed summing to %d (SQL: %d entries)", u.id, balance, len(txs), sum, accts[u.id].entries)
		}

		listed, err := sys.rest.listAll(ctx, "/v1/users/"+u.id+"/orders", "orders")
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != perUser[u.id] {
			v.add("API: every order is listed", "user %s: %d listed, %d stored", u.id, len(listed), perUser[u.id])
		}
		for _, o := range listed {
			if st, _ := o["status"].(string); !final(st) && st != "STATUS_CANCELLED" {
				v.add("API: every order final", "order %v of %s is %v", o["id"], u.id, o["status"])
			}
		}
		// A cancelled order's refunds are listed once each, naming the
		// order's withdrawal, one per refund asked (the cancellation and a
		// partial refund before it), adding up to the order's price.
		var refundsListed int
		for _, rs := range refundsOf {
			refundsListed += len(rs)
		}
		refundsN += refundsListed
		var refundsMatched int
		for _, o := range listed {
			id, _ := o["id"].(string)
			price, err := int64Of(o["price"])
			if err != nil {
				t.Fatalf("order %s: %v", id, err)
			}
			rs := refundsOf[withdrawalOf[id]]
			if withdrawalOf[id] == "" {
				rs = nil
			}
			refundsMatched += len(rs)
			if o["status"] != "STATUS_CANCELLED" {
				if len(rs) != 0 {
					v.add("API: an order that is not cancelled has no refund", "order %s of %s (%v): %d refunds listed", id, u.id, o["status"], len(rs))
				}
				continue
			}
			cancelledN++
			var amount int64
			for _, r := range rs {
				a, _ := int64Of(r["amount"])
				amount += a
			}
			if len(rs) != 1+partials[id] || amount != price {
				v.add("API: each cancelled order refunds of exactly its price, one per refund asked, of its withdrawal", "order %s of %s (price %d, withdrawal %q, %d partial refunds): %d refunds listed, %d in all", id, u.id, price, withdrawalOf[id], partials[id], len(rs), amount)
			}
		}
		if refundsMatched != refundsListed {
			v.add("API: every refund listed gives back one of the user's order withdrawals", "user %s: %d refunds listed, %d of them of an order's withdrawal", u.id, refundsListed, refundsMatched)
		}
		letters, err := sys.rest.listAll(ctx, "/v1/users/"+u.id+"/notifications", "notifications")
		if err != nil {
			t.Fatal(err)
		}
		perOrder, cancelledLetters, refundLetters := map[string]int{}, map[string]int{}, map[string]int{}
		for _, l := range letters {
			id, _ := l["orderId"].(string)
			if id == "" {
				continue
			}
			switch subject, _ := l["subject"].(string); subject {
			case "Order " + id + " was cancelled":
				cancelledLetters[id]++
			case "Part of order " + id + " was refunded":
				refundLetters[id]++
			default:
				perOrder[id]++
			}
		}
		for _, o := range listed {
			id, _ := o["id"].(string)
			if perOrder[id] != 1 {
				v.add("API: each order exactly one outcome letter", "order %s of %s: %d letters listed", id, u.id, perOrder[id])
			}
			want := 0
			if o["status"] == "STATUS_CANCELLED" {
				want = 1
			}
			if cancelledLetters[id] != want {
				v.add("API: each cancelled order exactly one cancellation letter, no other order any", "order %s of %s (%v): %d cancellation letters listed", id, u.id, o["status"], cancelledLetters[id])
			}
			if refundLetters[id] != partials[id] {
				v.add("API: each partial refund exactly one letter", "order %s of %s: %d refund letters listed, %d partial refunds", id, u.id, refundLetters[id], partials[id])
			}
			lettersN += cancelledLetters[id]
		}
	}
	v.report(t)
	t.Logf("API: %d cancelled orders listed, %d refunds, %d cancellation letters", cancelledN, refundsN, lettersN)
}
