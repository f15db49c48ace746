// Package fakepeers has in-memory stand-ins for the user, billing and
// notification gRPC services, for the order service's tests. They keep the
// contract's rules that the order flow relies on (billing applies a
// withdrawal once per request_id and answers every retry of a refused one
// with the first refusal; notification stores a letter once per
// request_id) and can be switched to fail, so the tests can watch the order
// service recover. The peer contract suites (order/app/peertest) hold them
// to those rules, and the real services to the same suites.
//
// Serve them through authtest.Serve with Rules (or grpctest.Serve when
// tokens do not matter): they return apperr errors, which the production
// interceptor turns into real gRPC statuses with ErrorInfo reasons, and
// each remembers who called it (Callers).
package fakepeers

import (
	"context"
	"sync"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"google.golang.org/grpc"
)

// Rules admits to the methods the order service uses only the
// service identity "order", as the real services do for the calls it
// makes (the real GetUser also admits the user and admins, which the order
// service never is), so a call that went without the order service's own
// token fails.
var Rules = map[string]auth.Rule{
	userv1.UserService_GetUser_FullMethodName:                          auth.Services("order"),
	billingv1.BillingService_Withdraw_FullMethodName:                   auth.Services("order"),
	billingv1.BillingService_GetAccount_FullMethodName:                 auth.Services("order"),
	billingv1.BillingService_Refund_FullMethodName:                     auth.Services("order"),
	notificationv1.NotificationService_SendNotification_FullMethodName: auth.Services("order"),
}

// callers records the principal of every call a fake served.
type callers struct {
	mu  sync.Mutex
	who []string
}

func (c *callers) record(ctx context.Context) {
	p, _ := auth.FromContext(ctx)
	c.mu.Lock()
	c.who = append(c.who, p.String())
	c.mu.Unlock()
}

// Callers returns who made each call served so far, in order:
// "service:order", "user:<id>", or "anonymous" when served without
// access checks.
func (c *callers) Callers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.who...)
}

// Register adds the three fakes to a gRPC server.
func Register(s *grpc.Server, u *Users, b *Billing, n *Notifier) {
	userv1.RegisterUserServiceServer(s, u)
	billingv1.RegisterBillingServiceServer(s, b)
	notificationv1.RegisterNotificationServiceServer(s, n)
}

// Users is a fake user service.
type Users struct {
	userv1.UnimplementedUserServiceServer
	callers
	mu     sync.Mutex
	emails map[string]string // live users; a deleted one is removed
	down   bool
	calls  int
}

// NewUsers returns a user service without users.
func NewUsers() *Users { return &Users{emails: map[string]string{}} }

// Add registers a user with email and returns its id.
func (u *Users) Add(email string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	id := uuid.NewString()
	u.emails[id] = email
	return id
}

// Delete deletes user id: like a deleted user of the real service, it is
// NOT_FOUND from then on.
func (u *Users) Delete(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.emails, id)
}

// SetDown makes GetUser fail with UNAVAILABLE (true) or work (false).
func (u *Users) SetDown(down bool) { u.mu.Lock(); u.down = down; u.mu.Unlock() }

// Calls counts GetUser calls.
func (u *Users) Calls() int { u.mu.Lock(); defer u.mu.Unlock(); return u.calls }

// GetUser returns a user with its email.
func (u *Users) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.User, error) {
	u.record(ctx)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if u.down {
		return nil, apperr.Unavailable("user service is down (fake)")
	}
	email, ok := u.emails[req.GetId()]
	if !ok {
		return nil, apperr.NotFound("user %s not found", req.GetId()).WithReason("USER_NOT_FOUND")
	}
	return &userv1.User{Id: req.GetId(), Email: email}, nil
}

// Debit is a withdrawal the fake billing applied.
type Debit struct {
	UserID, Currency, RequestID, OrderID string
	Amount                               int64
}

type account struct {
	balance  int64
	currency string
	closed   bool
}

// Billing is a fake billing service: balances in memory, withdrawals
// applied once per (user, request_id), a refusal remembered under its key.
type Billing struct {
	billingv1.UnimplementedBillingServiceServer
	callers
	mu       sync.Mutex
	accounts map[string]*account
	applied  map[string]Debit   // by user_id + "\x00" + request_id
	refused  map[string]refusal // by the same key
	debits   []Debit
	down     bool // refuse calls before doing anything
	loseAll  bool // apply the withdrawal, then report UNAVAILABLE
	calls    int
	lookups  int
	gate     chan struct{} // while set, calls wait for it to close
	waiting  int           // calls waiting at the gate
	failFor  map[string]bool
	// refundsBy holds the refunds applied by user_id + "\x00" +
	// request_id, refunded what was given back of each withdrawal (by its
	// request key), credits every refund in order.
	refundsBy   map[string]refund
	refunded    map[string]int64
	credits     []Debit
	refundCalls int
	// lostPayments makes Refund find no withdrawal, as a billing whose
	// ledger lost it would: refused for good, not remembered.
	lostPayments bool
}

// refund is a refund the fake applied: what it asked (0: the rest) of
// which order's withdrawal, and what it gave back.
type refund struct {
	orderID      string
	asked, given int64
}

// NewBilling returns a billing service without accounts.
func NewBilling() *Billing {
	return &Billing{
		accounts: map[string]*account{}, applied: map[string]Debit{}, refused: map[string]refusal{}, failFor: map[string]bool{},
		refundsBy: map[string]refund{}, refunded: map[string]int64{},
	}
}

// Hold makes Withdraw calls wait, as a stalled billing would, until
// release is called or their caller gives up.
func (b *Billing) Hold() (release func()) {
	gate := make(chan struct{})
	b.mu.Lock()
	b.gate = gate
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.gate = nil
			b.mu.Unlock()
			close(gate)
		})
	}
}

// Waiting counts Withdraw calls held by Hold.
func (b *Billing) Waiting() int { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting }

// FailFor makes every Withdraw of userID fail with UNAVAILABLE (true) or
// work (false): an order that billing never answers.
func (b *Billing) FailFor(userID string, fail bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failFor[userID] = fail
}

// wait holds a call while the gate is set.
func (b *Billing) wait(ctx context.Context) error {
	b.mu.Lock()
	gate := b.gate
	if gate != nil {
		b.waiting++
	}
	b.mu.Unlock()
	if gate == nil {
		return nil
	}
	defer func() { b.mu.Lock(); b.waiting--; b.mu.Unlock() }()
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// GetAccount returns userID's account, closed or not, like the real
// billing; it fails while the fake is down. It is not counted in Calls,
// which counts withdrawals.
func (b *Billing) GetAccount(ctx context.Context, req *billingv1.GetAccountRequest) (*billingv1.Account, error) {
	b.record(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lookups++
	if b.down {
		return nil, apperr.Unavailable("billing is down (fake)")
	}
	acct, ok := b.accounts[req.GetUserId()]
	if !ok {
		return nil, apperr.NotFound("account of user %s not found", req.GetUserId()).WithReason("ACCOUNT_NOT_FOUND")
	}
	return &billingv1.Account{UserId: req.GetUserId(), Balance: acct.balance, Currency: acct.currency}, nil
}

// Lookups counts GetAccount calls.
func (b *Billing) Lookups() int { b.mu.Lock(); defer b.mu.Unlock(); return b.lookups }

// Open opens userID's account in currency with balance.
func (b *Billing) Open(userID, currency string, balance int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts[userID] = &account{balance: balance, currency: currency}
}

// Fund adds amount to userID's account, as the customer's deposit would.
func (b *Billing) Fund(userID string, amount int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts[userID].balance += amount
}

// Close closes userID's account.
func (b *Billing) Close(userID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts[userID].closed = true
}

// Balance returns userID's balance.
func (b *Billing) Balance(userID string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accounts[userID].balance
}

// SetDown makes Withdraw fail with UNAVAILABLE without applying anything.
func (b *Billing) SetDown(down bool) { b.mu.Lock(); b.down = down; b.mu.Unlock() }

// SetLoseReplies makes Withdraw apply the withdrawal but answer
// UNAVAILABLE, as if the reply were lost on the way.
func (b *Billing) SetLoseReplies(lose bool) { b.mu.Lock(); b.loseAll = lose; b.mu.Unlock() }

// SetLostPayments makes refunds find no withdrawal (TRANSACTION_NOT_FOUND)
// while lost is true.
func (b *Billing) SetLostPayments(lost bool) { b.mu.Lock(); b.lostPayments = lost; b.mu.Unlock() }

// Debits returns the withdrawals applied, in order.
func (b *Billing) Debits() []Debit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Debit(nil), b.debits...)
}

// DebitsFor counts the withdrawals applied for orderID.
func (b *Billing) DebitsFor(orderID string) int {
	n := 0
	for _, d := range b.Debits() {
		if d.OrderID == orderID {
			n++
		}
	}
	return n
}

// Calls counts Withdraw calls.
func (b *Billing) Calls() int { b.mu.Lock(); defer b.mu.Unlock(); return b.calls }

// refusal is a withdrawal a business rule refused: what it asked and the
// answer, which every retry gets.
type refusal struct {
	amount  int64
	orderID string
	err     error
}

// Withdraw takes money like the real billing: idempotent per request_id,
// and a withdrawal refused by a rule is refused again on every retry, even
// once the rule would let it pass. A missing account is not remembered
// (there is no account to hold the key).
func (b *Billing) Withdraw(ctx context.Context, req *billingv1.WithdrawRequest) (*billingv1.WithdrawResponse, error) {
	b.record(ctx)
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.down || b.failFor[req.GetUserId()] {
		return nil, apperr.Unavailable("billing is down (fake)")
	}
	if req.GetRequestId() == "" || req.GetAmount() <= 0 {
		return nil, apperr.Invalid("request", "request_id and a positive amount are required")
	}
	key := req.GetUserId() + "\x00" + req.GetRequestId()
	if d, ok := b.applied[key]; ok {
		if d.Amount != req.GetAmount() || d.OrderID != req.GetOrderId() {
			return nil, apperr.AlreadyExists("request_id %q was already used with different parameters", req.GetRequestId())
		}
		return b.reply(d)
	}
	if r, ok := b.refused[key]; ok {
		if r.amount != req.GetAmount() || r.orderID != req.GetOrderId() {
			return nil, apperr.AlreadyExists("request_id %q was already used with different parameters", req.GetRequestId())
		}
		return nil, r.err
	}
	acct, ok := b.accounts[req.GetUserId()]
	if !ok {
		return nil, apperr.NotFound("account of user %s not found", req.GetUserId()).WithReason("ACCOUNT_NOT_FOUND")
	}
	var rule error
	switch {
	case acct.closed:
		rule = apperr.FailedPrecondition("account of user %s is closed", req.GetUserId()).WithReason("ACCOUNT_CLOSED")
	case req.GetCurrency() != "" && req.GetCurrency() != acct.currency:
		rule = apperr.FailedPrecondition("currency mismatch: account is in %s, withdrawal in %s", acct.currency, req.GetCurrency()).WithReason("CURRENCY_MISMATCH")
	case acct.balance < req.GetAmount():
		rule = apperr.FailedPrecondition("insufficient funds: balance %d, withdrawal needs %d", acct.balance, req.GetAmount()).WithReason("INSUFFICIENT_FUNDS")
	}
	if rule != nil {
		b.refused[key] = refusal{amount: req.GetAmount(), orderID: req.GetOrderId(), err: rule}
		return nil, rule
	}
	acct.balance -= req.GetAmount()
	d := Debit{UserID: req.GetUserId(), Currency: acct.currency, RequestID: req.GetRequestId(), OrderID: req.GetOrderId(), Amount: req.GetAmount()}
	b.applied[key] = d
	b.debits = append(b.debits, d)
	return b.reply(d)
}

func (b *Billing) reply(d Debit) (*billingv1.WithdrawResponse, error) {
	if b.loseAll {
		return nil, apperr.Unavailable("reply lost (fake)")
	}
	acct := b.accounts[d.UserID]
	return &billingv1.WithdrawResponse{
		Account: &billingv1.Account{UserId: d.UserID, Balance: acct.balance, Currency: acct.currency},
		Transaction: &billingv1.Transaction{
			UserId: d.UserID, Kind: billingv1.Transaction_KIND_WITHDRAWAL, Amount: d.Amount,
			Currency: d.Currency, RequestId: d.RequestID, OrderId: d.OrderID,
		},
	}, nil
}

// Refund gives money back like the real billing: for the withdrawal that
// paid the order the request names (by order id; by transaction id the
// fake has nothing to find), idempotent per (user, request_id) with the
// same order and amount, never more than the withdrawal took less what was
// refunded of it, and applied to a closed account too. It fails while
// the fake is down or failing for the user.
func (b *Billing) Refund(ctx context.Context, req *billingv1.RefundRequest) (*billingv1.RefundResponse, error) {
	b.record(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refundCalls++
	if b.down || b.failFor[req.GetUserId()] {
		return nil, apperr.Unavailable("billing is down (fake)")
	}
	if req.GetRequestId() == "" || req.GetAmount() < 0 || req.GetOrderId() == "" {
		return nil, apperr.Invalid("request", "request_id, order_id and an amount of at least 0 are required")
	}
	key := req.GetUserId() + "\x00" + req.GetRequestId()
	if r, ok := b.refundsBy[key]; ok {
		if r.orderID != req.GetOrderId() || r.asked != req.GetAmount() {
			return nil, apperr.AlreadyExists("request_id %q was already used with different parameters", req.GetRequestId()).WithReason("REQUEST_ID_REUSED")
		}
		return b.refundReply(req.GetUserId(), r.orderID, r.given, req.GetRequestId())
	}
	var paid *Debit
	for i := range b.debits {
		if d := &b.debits[i]; d.UserID == req.GetUserId() && d.OrderID == req.GetOrderId() {
			paid = d
		}
	}
	if paid == nil || b.lostPayments {
		return nil, apperr.NotFound("user %s has no payment of order %s", req.GetUserId(), req.GetOrderId()).WithReason("TRANSACTION_NOT_FOUND")
	}
	paidKey := paid.UserID + "\x00" + paid.RequestID
	remaining := paid.Amount - b.refunded[paidKey]
	given := req.GetAmount()
	if given == 0 {
		given = remaining
	}
	if remaining <= 0 || given > remaining {
		return nil, apperr.FailedPrecondition("refund exceeds what remains of the withdrawal: %d remain", remaining).WithReason("REFUND_EXCEEDS_REMAINING")
	}
	b.refunded[paidKey] += given
	b.accounts[paid.UserID].balance += given
	b.refundsBy[key] = refund{orderID: paid.OrderID, asked: req.GetAmount(), given: given}
	b.credits = append(b.credits, Debit{UserID: paid.UserID, Currency: paid.Currency, RequestID: req.GetRequestId(), OrderID: paid.OrderID, Amount: given})
	return b.refundReply(paid.UserID, paid.OrderID, given, req.GetRequestId())
}

func (b *Billing) refundReply(userID, orderID string, given int64, requestID string) (*billingv1.RefundResponse, error) {
	if b.loseAll {
		return nil, apperr.Unavailable("reply lost (fake)")
	}
	acct := b.accounts[userID]
	return &billingv1.RefundResponse{
		Account: &billingv1.Account{UserId: userID, Balance: acct.balance, Currency: acct.currency},
		Transaction: &billingv1.Transaction{
			UserId: userID, Kind: billingv1.Transaction_KIND_REFUND, Amount: given,
			Currency: acct.currency, RequestId: requestID, OrderId: orderID,
		},
	}, nil
}

// Refunds lists the refunds applied, in order.
func (b *Billing) Refunds() []Debit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Debit(nil), b.credits...)
}

// RefundCalls counts Refund calls.
func (b *Billing) RefundCalls() int { b.mu.Lock(); defer b.mu.Unlock(); return b.refundCalls }

// Notifier is a fake notification service that keeps letters in memory,
// one per (user, request_id).
type Notifier struct {
	notificationv1.UnimplementedNotificationServiceServer
	callers
	mu      sync.Mutex
	byKey   map[string]*notificationv1.Notification
	letters []*notificationv1.Notification
	down    bool
	calls   int
}

// NewNotifier returns a notification service without letters.
func NewNotifier() *Notifier { return &Notifier{byKey: map[string]*notificationv1.Notification{}} }

// SetDown makes SendNotification fail with UNAVAILABLE without storing.
func (n *Notifier) SetDown(down bool) { n.mu.Lock(); n.down = down; n.mu.Unlock() }

// Letters returns the stored letters, in order.
func (n *Notifier) Letters() []*notificationv1.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*notificationv1.Notification(nil), n.letters...)
}

// LettersFor returns the stored letters about orderID.
func (n *Notifier) LettersFor(orderID string) []*notificationv1.Notification {
	var out []*notificationv1.Notification
	for _, l := range n.Letters() {
		if l.GetOrderId() == orderID {
			out = append(out, l)
		}
	}
	return out
}

// Calls counts SendNotification calls.
func (n *Notifier) Calls() int { n.mu.Lock(); defer n.mu.Unlock(); return n.calls }

// SendNotification stores a letter once per request_id; the same key with
// another letter is ALREADY_EXISTS, as in the real service.
func (n *Notifier) SendNotification(ctx context.Context, req *notificationv1.SendNotificationRequest) (*notificationv1.Notification, error) {
	n.record(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if n.down {
		return nil, apperr.Unavailable("notification is down (fake)")
	}
	in := req.GetNotification()
	if in.GetEmail() == "" || in.GetSubject() == "" || in.GetBody() == "" {
		return nil, apperr.Invalid("notification", "email, subject and body are required")
	}
	key := req.GetUserId() + "\x00" + req.GetRequestId()
	if old, ok := n.byKey[key]; ok && req.GetRequestId() != "" {
		if old.GetEmail() != in.GetEmail() || old.GetSubject() != in.GetSubject() || old.GetBody() != in.GetBody() || old.GetOrderId() != in.GetOrderId() {
			return nil, apperr.AlreadyExists("request_id %q was already used with different parameters", req.GetRequestId())
		}
		return old, nil
	}
	l := &notificationv1.Notification{
		Id: uuid.NewString(), UserId: req.GetUserId(), Email: in.GetEmail(),
		Subject: in.GetSubject(), Body: in.GetBody(), OrderId: in.GetOrderId(),
	}
	n.byKey[key] = l
	n.letters = append(n.letters, l)
	return l, nil
}
