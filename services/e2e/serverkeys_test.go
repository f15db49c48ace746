package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// The order service's own steps (the payment of an order, its letter) are
// keyed by the order, apart from the keys clients choose. Before the fix
// they were the client keys "order/<id>" and "order/<id>/letter", so a
// client could take them first: a deposit under "order/<X>" made X's
// payment a reused key (X stayed pending), a letter under
// "order/<X>/letter" became X's letter.

func TestClientKeys_ShapedLikeOrderPayment_AreOrdinaryClientKeys(t *testing.T) {
	user := restFundedUser(t, 1000)
	base := "/v1/users/" + user
	x := ok(t, "order X", call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	xID := str(x, "id")
	if str(x, "status") != "STATUS_PAID" {
		t.Fatalf("order X: %v", x)
	}
	forged := "order/" + xID

	dep := ok(t, "deposit keyed "+forged, call(t, "POST", base+"/account:deposit", map[string]any{"amount": "1", "requestId": forged}, nil))
	depAgain := ok(t, "deposit retried", call(t, "POST", base+"/account:deposit", map[string]any{"amount": "1", "requestId": forged}, nil))
	if str(dep, "transaction.id") == "" || str(depAgain, "transaction.id") != str(dep, "transaction.id") {
		t.Errorf("deposit retry made transaction %q, first was %q", str(depAgain, "transaction.id"), str(dep, "transaction.id"))
	}
	expect(t, "withdrawal naming an order", call(t, "POST", base+"/account:withdraw", map[string]any{"amount": "100", "requestId": "w-order", "orderId": xID}, nil),
		http.StatusBadRequest, "")

	xAgain := ok(t, "order X retried", call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	if str(xAgain, "id") != xID || str(xAgain, "status") != "STATUS_PAID" {
		t.Errorf("retry of X answered %v", xAgain)
	}
	y := ok(t, "order Y", call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "y"}, nil))
	if str(y, "status") != "STATUS_PAID" {
		t.Errorf("order Y: %v", y)
	}
	// A withdrawal of Y's price under "order/<Y>": in one namespace with
	// the order's own key it was answered as a replay of Y's payment (the
	// same transaction, carrying Y's order id) and took no money.
	forgedY := "order/" + str(y, "id")
	wd := ok(t, "withdrawal keyed "+forgedY, call(t, "POST", base+"/account:withdraw", map[string]any{"amount": "100", "requestId": forgedY}, nil))
	if str(wd, "transaction.orderId") != "" || str(wd, "account.balance") != "701" { // 1000 - X + 1 - Y - 100
		t.Errorf("client withdrawal keyed %s answered %v, want a new debit leaving 701", forgedY, wd)
	}

	txs := transactionsOf(t, user)
	for _, id := range []string{xID, str(y, "id")} {
		if got := where(txs, "orderId", id); len(got) != 1 || str(got[0], "kind") != "KIND_WITHDRAWAL" || str(got[0], "amount") != "100" {
			t.Errorf("ledger entries of order %s = %v, want one debit of 100", id, got)
		}
	}
	// The order's payment shows the request id "order/<id>" too; it is
	// told apart by its order id, which no client entry carries.
	for _, key := range []string{forged, forgedY} {
		if got := where(where(txs, "requestId", key), "orderId", ""); len(got) != 1 {
			t.Errorf("client entries keyed %s = %v, want one", key, got)
		}
	}
	if got := balanceOf(t, user); got != "701" {
		t.Errorf("balance = %s, want 701", got)
	}
}

func TestClientLetters_ShapedLikeOrderLetter_KeptApartFromIt(t *testing.T) {
	user := restFundedUser(t, 1000)
	base := "/v1/users/" + user
	x := ok(t, "order X", call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	xID := str(x, "id")
	xLetters := where(lettersOf(t, user), "orderId", xID)
	if len(xLetters) != 1 {
		t.Fatalf("letters of order X = %v, want 1", xLetters)
	}
	subject := str(xLetters[0], "subject")
	if subject != "Order "+xID+" is paid" {
		t.Fatalf("X's letter has subject %q", subject)
	}

	before := snapshot(t, user)
	refused := call(t, "POST", base+"/notifications", map[string]any{
		"email": "forger@example.com", "subject": "forged", "body": "forged", "orderId": xID, "requestId": "n1",
	}, nil)
	expect(t, "client letter naming an order", refused, http.StatusBadRequest, "")
	if !slices.Contains(refused.violatedFields(), "notification.order_id") {
		t.Errorf("refusal names fields %v, want notification.order_id", refused.violatedFields())
	}
	if after := snapshot(t, user); after != before {
		t.Errorf("the refused letter changed the user's state:\n%s", changes(before, after))
	}

	forgedKey := "order/" + xID + "/letter"
	letter := map[string]any{"email": "forger@example.com", "subject": "forged", "body": "forged", "requestId": forgedKey}
	client := ok(t, "client letter keyed "+forgedKey, call(t, "POST", base+"/notifications", letter, nil))
	again := ok(t, "client letter retried", call(t, "POST", base+"/notifications", letter, nil))
	if str(client, "id") == str(xLetters[0], "id") {
		t.Fatalf("the client letter was answered with X's letter %s", str(client, "id"))
	}
	if str(again, "id") != str(client, "id") || str(client, "orderId") != "" || str(client, "subject") != "forged" {
		t.Errorf("client letter %v, retried %v; want one letter with no order", client, again)
	}
	ok(t, "order X retried", call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))

	letters := lettersOf(t, user)
	if len(letters) != 2 {
		t.Errorf("letters = %d, want 2 (X's and the client's)", len(letters))
	}
	mine := where(letters, "orderId", xID)
	if len(mine) != 1 || str(mine[0], "id") != str(xLetters[0], "id") || str(mine[0], "subject") != subject {
		t.Errorf("X's letters after the client letter = %v, want its own letter untouched", mine)
	}
	got := ok(t, "GetNotification of X's letter", call(t, "GET", base+"/notifications/"+str(xLetters[0], "id"), nil, nil))
	if str(got, "subject") != subject || str(got, "orderId") != xID {
		t.Errorf("X's letter now reads %v", got)
	}
}
