// Package peers adapts the generated gRPC clients of the user, billing and
// notification services to the small interfaces the order use cases need
// (app.Users, app.Payments, app.Letters). This is where the peers' gRPC
// status codes become domain outcomes, so the use cases never look at a
// status code.
package peers

import (
	"context"
	"errors"
	"fmt"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Users implements app.Users over the user service.
type Users struct{ c userv1.UserServiceClient }

// NewUsers returns Users over client c.
func NewUsers(c userv1.UserServiceClient) *Users { return &Users{c: c} }

// Email returns the user's email address. NOT_FOUND (including deleted
// users) becomes order.ErrUnknownUser; any other failure is returned
// wrapped, to be reported as the user service being unavailable.
func (u *Users) Email(ctx context.Context, userID string) (string, error) {
	usr, err := u.c.GetUser(ctx, &userv1.GetUserRequest{Id: userID})
	if status.Code(err) == codes.NotFound {
		return "", fmt.Errorf("user %s: %w", userID, order.ErrUnknownUser)
	}
	if err != nil {
		return "", fmt.Errorf("get user %s: %w", userID, err)
	}
	if usr.GetEmail() == "" {
		return "", fmt.Errorf("get user %s: the user service returned no email", userID)
	}
	return usr.GetEmail(), nil
}

// Payments implements app.Payments over the billing service.
type Payments struct {
	c       billingv1.BillingServiceClient
	metrics *app.Metrics
}

// NewPayments returns Payments over client c.
func NewPayments(c billingv1.BillingServiceClient) *Payments { return &Payments{c: c} }

// WithMetrics makes p count billing's refusals by reason in m (only this
// adapter sees the machine-readable reason) and returns p.
func (p *Payments) WithMetrics(m *app.Metrics) *Payments {
	p.metrics = m
	return p
}

// Withdraw asks billing to take the money.
//
//   - OK: paid.
//   - FAILED_PRECONDITION (whatever its ErrorInfo reason: INSUFFICIENT_FUNDS,
//     ACCOUNT_CLOSED, CURRENCY_MISMATCH, ...) or NOT_FOUND (the buyer has no account): declined for good,
//     with billing's message as the reason. Billing keeps the refusal under
//     the order id, so every retry of this payment gets the same answer.
//   - Anything else (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED from
//     billing's admission control, ...): no answer, err is
//     set. The withdrawal may have happened; retrying with the same
//     RequestID returns billing's first result and never charges twice.
func (p *Payments) Withdraw(ctx context.Context, w app.Withdrawal) (declined bool, reason string, err error) {
	_, err = p.c.Withdraw(ctx, &billingv1.WithdrawRequest{
		UserId: w.UserID, Amount: w.Amount, Currency: w.Currency,
		RequestId: w.RequestID, OrderId: w.OrderID,
	})
	switch status.Code(err) {
	case codes.OK:
		return false, "", nil
	case codes.FailedPrecondition, codes.NotFound:
		p.metrics.PaymentDeclined(grpcstatus.ReasonOf(err))
		return true, status.Convert(err).Message(), nil
	}
	if r := grpcstatus.ReasonOf(err); r != "" {
		return false, "", fmt.Errorf("withdraw for order %s (%s): %w", w.OrderID, r, err)
	}
	return false, "", fmt.Errorf("withdraw for order %s: %w", w.OrderID, err)
}

// Refund asks billing to give back r.Amount (0: all that remains) of the
// withdrawal that paid the order and returns what the refund entry gave
// back.
//
//   - OK: refunded; a retry with the same RequestID returns this refund.
//   - NOT_FOUND (TRANSACTION_NOT_FOUND), FAILED_PRECONDITION
//     (NOT_REFUNDABLE, REFUND_EXCEEDS_REMAINING, BALANCE_LIMIT, ...),
//     ALREADY_EXISTS (REQUEST_ID_REUSED) or INVALID_ARGUMENT: refused for
//     good, app.ErrRefundRefused. Billing remembers a rule's refusal under
//     the key, and the others would be refused alike, so asking again
//     cannot help; for a refund the order reserved against its price none
//     of them should happen, so each needs a person.
//   - Anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ...): no answer. The
//     refund may have happened; the retry with the same RequestID returns
//     that first refund and never gives twice.
func (p *Payments) Refund(ctx context.Context, r app.Refund) (int64, error) {
	resp, err := p.c.Refund(ctx, &billingv1.RefundRequest{
		UserId: r.UserID, Original: &billingv1.RefundRequest_OrderId{OrderId: r.OrderID},
		Amount: r.Amount, RequestId: r.RequestID, Reason: r.Reason,
	})
	if err == nil {
		return resp.GetTransaction().GetAmount(), nil
	}
	what := "refund " + r.RequestID
	if reason := grpcstatus.ReasonOf(err); reason != "" {
		what += " (" + reason + ")"
	}
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.AlreadyExists, codes.InvalidArgument:
		return 0, fmt.Errorf("%s: %w: %w", what, app.ErrRefundRefused, err)
	}
	return 0, fmt.Errorf("%s: %w", what, err)
}

// HasAccount asks billing for userID's account: OK (open or closed) is
// true, NOT_FOUND false, anything else an error.
func (p *Payments) HasAccount(ctx context.Context, userID string) (bool, error) {
	_, err := p.c.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: userID})
	found, err := grpcstatus.Found(err)
	if err != nil {
		return false, fmt.Errorf("get account of %s: %w", userID, err)
	}
	return found, nil
}

// Letters implements app.Letters over the notification service.
type Letters struct {
	c notificationv1.NotificationServiceClient
}

// NewLetters returns Letters over client c.
func NewLetters(c notificationv1.NotificationServiceClient) *Letters { return &Letters{c: c} }

// errLetterRefused is returned for a letter the notification service
// refused as invalid; it will be refused again, so it needs a person.
var errLetterRefused = errors.New("the notification service refused the letter")

// Send stores the letter. ALREADY_EXISTS means a different letter is
// already stored under the order's letter key (say, the wording changed
// between releases): the buyer has the letter for this order, so that
// counts as sent.
func (l *Letters) Send(ctx context.Context, lt order.Letter) error {
	_, err := l.c.SendNotification(ctx, &notificationv1.SendNotificationRequest{
		UserId: lt.UserID,
		Notification: &notificationv1.Notification{
			Email: lt.Email, Subject: lt.Subject, Body: lt.Body, OrderId: lt.OrderID,
		},
		RequestId: lt.RequestID,
	})
	switch status.Code(err) {
	case codes.OK, codes.AlreadyExists:
		return nil
	case codes.InvalidArgument:
		return fmt.Errorf("letter for order %s: %w: %w", lt.OrderID, errLetterRefused, err)
	}
	return fmt.Errorf("letter for order %s: %w", lt.OrderID, err)
}
