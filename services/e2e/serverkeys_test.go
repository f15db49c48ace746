package e2e

import (
	"net/http"
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
	base := "/v1/users/" + user.id
	x := ok(t, "order X", user.call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	xID := str(x, "id")
	if str(x, "status") != "STATUS_PAID" {
		t.Fatalf("order X: %v", x)
	}
	forged := "order/" + xID

	dep := ok(t, "deposit keyed "+forged, user.call(t, "POST", base+"/account:deposit", map[string]any{"amount": "1", "requestId": forged}, nil))
	depAgain := ok(t, "deposit retried", user.call(t, "POST", base+"/account:deposit", map[string]any{"amount": "1", "requestId": forged}, nil))
	if str(dep, "transaction.id") == "" || str(depAgain, "transaction.id") != str(dep, "transaction.id") {
		t.Errorf("deposit retry made transaction %q, first was %q", str(depAgain, "transaction.id"), str(dep, "transaction.id"))
	}
	expect(t, "withdrawal naming an order", user.call(t, "POST", base+"/account:withdraw", map[string]any{"amount": "100", "requestId": "w-order", "orderId": xID}, nil),
		http.StatusBadRequest, "")

	xAgain := ok(t, "order X retried", user.call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	if str(xAgain, "id") != xID || str(xAgain, "status") != "STATUS_PAID" {
		t.Errorf("retry of X answered %v", xAgain)
	}
	y := ok(t, "order Y", user.call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "y"}, nil))
	if str(y, "status") != "STATUS_PAID" {
		t.Errorf("order Y: %v", y)
	}
	// A withdrawal of Y's price under "order/<Y>": in one namespace with
	// the order's own key it was answered as a replay of Y's payment (the
	// same transaction, carrying Y's order id) and took no money.
	forgedY := "order/" + str(y, "id")
	wd := ok(t, "withdrawal keyed "+forgedY, user.call(t, "POST", base+"/account:withdraw", map[string]any{"amount": "100", "requestId": forgedY}, nil))
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

func TestClientLetters_NoPublicRoute_OrderLetterUntouched(t *testing.T) {
	user := restFundedUser(t, 1000)
	base := "/v1/users/" + user.id
	x := ok(t, "order X", user.call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))
	xID := str(x, "id")
	xLetters := where(lettersOf(t, user), "orderId", xID)
	if len(xLetters) != 1 {
		t.Fatalf("letters of order X = %v, want 1", xLetters)
	}
	subject := str(xLetters[0], "subject")
	if subject != "Order "+xID+" is paid" {
		t.Fatalf("X's letter has subject %q", subject)
	}

	// Letters are the order service's to send: the public API has no route
	// that stores one (SendNotification is internal), so no client can
	// write into a mailbox, let alone under an order letter's key. The
	// key namespaces inside notification are tested there.
	before := snapshot(t, user)
	forgedKey := "order/" + xID + "/letter"
	for _, body := range []map[string]any{
		{"email": "forger@example.com", "subject": "forged", "body": "forged", "orderId": xID, "requestId": "n1"},
		{"email": "forger@example.com", "subject": "forged", "body": "forged", "requestId": forgedKey},
	} {
		refused := user.call(t, "POST", base+"/notifications", body, nil)
		expect(t, "POST of a letter", refused, http.StatusMethodNotAllowed, "")
	}
	if after := snapshot(t, user); after != before {
		t.Errorf("the refused letters changed the user's state:\n%s", changes(before, after))
	}
	ok(t, "order X retried", user.call(t, "POST", base+"/orders", map[string]any{"price": "100", "requestId": "x"}, nil))

	letters := lettersOf(t, user)
	if len(letters) != 1 {
		t.Errorf("letters = %d, want 1 (X's)", len(letters))
	}
	got := ok(t, "GetNotification of X's letter", user.call(t, "GET", base+"/notifications/"+str(xLetters[0], "id"), nil, nil))
	if str(got, "subject") != subject || str(got, "orderId") != xID {
		t.Errorf("X's letter now reads %v", got)
	}
}
