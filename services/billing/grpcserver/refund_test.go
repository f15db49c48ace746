package grpcserver_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// paidOrderOf opens an account holding balance, pays an order of price
// from it as the order service does and returns the user, the order and
// the payment.
func paidOrderOf(t *testing.T, c billingv1.BillingServiceClient, balance, price int64) (string, string, *billingv1.Transaction) {
	t.Helper()
	user, order := newAccount(t, c, balance), uuid.NewString()
	resp, err := c.Withdraw(context.Background(), pay(user, order, price))
	if err != nil {
		t.Fatal(err)
	}
	return user, order, resp.GetTransaction()
}

func refundOf(user, tx string, amount int64, key string) *billingv1.RefundRequest {
	return &billingv1.RefundRequest{UserId: user, Original: &billingv1.RefundRequest_TransactionId{TransactionId: tx},
		Amount: amount, RequestId: key}
}

func refundOfOrder(user, order string, amount int64, key string) *billingv1.RefundRequest {
	return &billingv1.RefundRequest{UserId: user, Original: &billingv1.RefundRequest_OrderId{OrderId: order},
		Amount: amount, RequestId: key}
}

func TestRefund_ByOrder_ReturnsAccountAndEntry(t *testing.T) {
	c, db := newClient(t)
	user, order, paid := paidOrderOf(t, c, 100, 70)
	req := refundOfOrder(user, order, 0, "cancel/"+order)
	req.Reason = "order cancelled by the customer"
	resp, err := c.Refund(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	tx := resp.GetTransaction()
	if tx.GetKind() != billingv1.Transaction_KIND_REFUND || tx.GetAmount() != 70 || tx.GetRefundOf() != paid.GetId() ||
		tx.GetRefundReason() != req.Reason || tx.GetBalanceAfter() != 100 || tx.GetOrderId() != "" || tx.GetRequestId() != req.RequestId {
		t.Fatalf("refund entry = %v", tx)
	}
	if resp.GetAccount().GetBalance() != 100 {
		t.Fatalf("account = %v, want balance 100", resp.GetAccount())
	}
	if balance, entries := audit(t, c, db, user); balance != 100 || entries != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 3", balance, entries)
	}
	// The payment is listed as it was.
	for _, e := range allTransactions(t, c, user) {
		if e.GetId() == paid.GetId() && (e.GetAmount() != 70 || e.GetBalanceAfter() != 30 || e.GetKind() != billingv1.Transaction_KIND_WITHDRAWAL) {
			t.Fatalf("the payment changed: %v", e)
		}
	}
}

func TestRefund_PartThenRest_ThenBeyondRefused(t *testing.T) {
	c, db := newClient(t)
	user, _, paid := paidOrderOf(t, c, 100, 70)
	for _, step := range []struct {
		amount, want int64
		key          string
	}{{30, 30, "r1"}, {0, 40, "r2"}} {
		resp, err := c.Refund(context.Background(), refundOf(user, paid.GetId(), step.amount, step.key))
		if err != nil || resp.GetTransaction().GetAmount() != step.want {
			t.Fatalf("refund %s = %v, %v; want %d", step.key, resp, err, step.want)
		}
	}
	_, err := c.Refund(context.Background(), refundOf(user, paid.GetId(), 1, "r3"))
	wantRefusal(t, err, "REFUND_EXCEEDS_REMAINING")
	// The refusal is the key's answer for good.
	_, again := c.Refund(context.Background(), refundOf(user, paid.GetId(), 1, "r3"))
	wantRefusal(t, again, "REFUND_EXCEEDS_REMAINING")
	if status.Convert(again).Message() != status.Convert(err).Message() {
		t.Fatalf("retry answered %q, first %q", status.Convert(again).Message(), status.Convert(err).Message())
	}
	if balance, entries := audit(t, c, db, user); balance != 100 || entries != 4 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 4", balance, entries)
	}
}

func TestRefund_SameKey_AppliedOnce_OtherParamsReused(t *testing.T) {
	c, db := newClient(t)
	user, _, paid := paidOrderOf(t, c, 100, 70)
	first, err := c.Refund(context.Background(), refundOf(user, paid.GetId(), 20, "r"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Refund(context.Background(), refundOf(user, paid.GetId(), 20, "r"))
	if err != nil || again.GetTransaction().GetId() != first.GetTransaction().GetId() {
		t.Fatalf("retry = %v, %v; want the first entry", again, err)
	}
	_, err = c.Refund(context.Background(), refundOf(user, paid.GetId(), 21, "r"))
	wantReused(t, err)
	if balance, entries := audit(t, c, db, user); balance != 50 || entries != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 50, 3", balance, entries)
	}
}

func TestRefund_ForeignOrMissing_NotFound(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 10)
	other, otherOrder, otherPaid := paidOrderOf(t, c, 100, 70)
	for name, req := range map[string]*billingv1.RefundRequest{
		"another user's withdrawal": refundOf(user, otherPaid.GetId(), 5, "a"),
		"another user's order":      refundOfOrder(user, otherOrder, 5, "b"),
		"no such transaction":       refundOf(user, uuid.NewString(), 5, "c"),
		"unknown account":           refundOf(uuid.NewString(), otherPaid.GetId(), 5, "d"),
	} {
		_, err := c.Refund(context.Background(), req)
		wantCode(t, err, codes.NotFound)
		if r := grpcstatus.ReasonOf(err); r != "TRANSACTION_NOT_FOUND" && r != "ACCOUNT_NOT_FOUND" {
			t.Errorf("%s: reason %q", name, r)
		}
	}
	if balance, entries := audit(t, c, db, other); balance != 30 || entries != 2 {
		t.Fatalf("the other account: balance %d, %d entries; want 30, 2", balance, entries)
	}
	if balance, entries := audit(t, c, db, user); balance != 10 || entries != 1 {
		t.Fatalf("the refunder's account: balance %d, %d entries; want 10, 1", balance, entries)
	}
}

func TestRefund_OfADeposit_NotRefundable(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 100)
	dep := allTransactions(t, c, user)[0]
	_, err := c.Refund(context.Background(), refundOf(user, dep.GetId(), 10, "r"))
	wantRefusal(t, err, "NOT_REFUNDABLE")
	if balance, entries := audit(t, c, db, user); balance != 100 || entries != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 1", balance, entries)
	}
}

// A closed account still gets its money back: it is owed to the customer,
// and a closed account keeps its balance.
func TestRefund_ClosedAccount_Applied(t *testing.T) {
	c, db := newClient(t)
	user, order, _ := paidOrderOf(t, c, 100, 70)
	if _, err := c.CloseAccount(context.Background(), &billingv1.CloseAccountRequest{UserId: user}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Refund(context.Background(), refundOfOrder(user, order, 0, "r"))
	if err != nil || resp.GetAccount().GetBalance() != 100 || resp.GetAccount().GetCloseTime() == nil {
		t.Fatalf("refund on a closed account = %v, %v", resp, err)
	}
	if balance, _ := audit(t, c, db, user); balance != 100 {
		t.Fatalf("balance %d, want 100", balance)
	}
}

func TestRefund_Concurrent_ExactlyTheWithdrawalComesBack(t *testing.T) {
	c, db := newClient(t)
	user, _, paid := paidOrderOf(t, c, 100, 90)
	const n = 30
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		given   int64
		applied int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Refund(context.Background(), refundOf(user, paid.GetId(), 6, uuid.NewString()))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				applied++
				given += resp.GetTransaction().GetAmount()
			case grpcstatus.ReasonOf(err) != "REFUND_EXCEEDS_REMAINING":
				t.Errorf("refund: %v", err)
			}
		}()
	}
	wg.Wait()
	// 15 × 6 is the 90 withdrawn: exactly that comes back, never more.
	if applied != 15 || given != 90 {
		t.Fatalf("%d refunds applied giving back %d; want 15, 90", applied, given)
	}
	if balance, entries := audit(t, c, db, user); balance != 100 || entries != 2+15 {
		t.Fatalf("audit: balance %d, %d entries; want 100, 17", balance, entries)
	}
}

func TestRefund_BadRequests(t *testing.T) {
	c, db := newClient(t)
	user, order, paid := paidOrderOf(t, c, 100, 70)
	rf := func(edit func(r *billingv1.RefundRequest)) func(context.Context) error {
		r := refundOf(user, paid.GetId(), 10, "bad-"+uuid.NewString())
		edit(r)
		return func(ctx context.Context) error { _, err := c.Refund(ctx, r); return err }
	}
	byID := func(id string) *billingv1.RefundRequest_TransactionId {
		return &billingv1.RefundRequest_TransactionId{TransactionId: id}
	}
	runBad(t, []badCase{
		{"no user_id", rf(func(r *billingv1.RefundRequest) { r.UserId = "" }), codes.InvalidArgument, "user_id"},
		{"malformed user_id", rf(func(r *billingv1.RefundRequest) { r.UserId = "abc" }), codes.InvalidArgument, "user_id"},
		{"no withdrawal named", rf(func(r *billingv1.RefundRequest) { r.Original = nil }), codes.InvalidArgument, "transaction_id"},
		{"empty transaction_id", rf(func(r *billingv1.RefundRequest) { r.Original = byID("") }), codes.InvalidArgument, "transaction_id"},
		{"malformed transaction_id", rf(func(r *billingv1.RefundRequest) { r.Original = byID("tx-1") }), codes.InvalidArgument, "transaction_id"},
		{"malformed order_id", rf(func(r *billingv1.RefundRequest) {
			r.Original = &billingv1.RefundRequest_OrderId{OrderId: order + "x"}
		}), codes.InvalidArgument, "order_id"},
		{"negative amount", rf(func(r *billingv1.RefundRequest) { r.Amount = -1 }), codes.InvalidArgument, "amount"},
		{"MinInt64 amount", rf(func(r *billingv1.RefundRequest) { r.Amount = math.MinInt64 }), codes.InvalidArgument, "amount"},
		{"above the withdrawal", rf(func(r *billingv1.RefundRequest) { r.Amount = 71 }), codes.InvalidArgument, "amount"},
		{"over 1e15", rf(func(r *billingv1.RefundRequest) { r.Amount = 1_000_000_000_000_001 }), codes.InvalidArgument, "amount"},
		{"no request_id", rf(func(r *billingv1.RefundRequest) { r.RequestId = "" }), codes.InvalidArgument, "request_id"},
		{"long request_id", rf(func(r *billingv1.RefundRequest) { r.RequestId = strings.Repeat("k", 129) }), codes.InvalidArgument, "request_id"},
		{"long reason", rf(func(r *billingv1.RefundRequest) { r.Reason = strings.Repeat("r", 201) }), codes.InvalidArgument, "reason"},
		{"NUL in reason", rf(func(r *billingv1.RefundRequest) { r.Reason = "cancel\x00led" }), codes.InvalidArgument, "reason"},
		{"NUL in request_id", rf(func(r *billingv1.RefundRequest) { r.RequestId = "k\x00" }), codes.InvalidArgument, "request_id"},
	})
	if balance, entries := audit(t, c, db, user); balance != 30 || entries != 2 {
		t.Fatalf("after bad requests: balance %d, %d entries; want 30, 2", balance, entries)
	}
	var refused int
	if err := db.Get(&refused, `SELECT count(*) FROM refusals WHERE user_id = $1`, user); err != nil || refused != 0 {
		t.Fatalf("%d refusals (%v) after bad requests, want 0", refused, err)
	}
}

// rawCodec sends pre-encoded bytes: the generated client refuses to
// marshal a string that is not UTF-8, so only this way can a test send one.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMsg).b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*rawMsg).b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// A reason that is not UTF-8 is refused as INVALID_ARGUMENT naming the
// field (the platform's text check), and nothing is written.
func TestRefund_ReasonNotUTF8_InvalidArgument(t *testing.T) {
	e := serve(t)
	c := e.asCallers(t)
	user, _, paid := paidOrderOf(t, c, 100, 70)
	req := refundOf(user, paid.GetId(), 10, "r")
	req.Reason = "cancelXled"
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	wire = bytes.Replace(wire, []byte("cancelXled"), []byte("cancel\xffled"), 1)
	err = e.conn.Invoke(context.Background(), billingv1.BillingService_Refund_FullMethodName, &rawMsg{wire}, new(rawMsg),
		grpc.ForceCodecV2(rawCodec{}), authtest.Bearer(e.iss.Service(t, "order")))
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(status.Convert(err).Message(), "reason") {
		t.Fatalf("message %q does not name reason", status.Convert(err).Message())
	}
	if balance, entries := audit(t, c, e.db, user); balance != 30 || entries != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 30, 2", balance, entries)
	}
}
