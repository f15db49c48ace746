package order

import (
	"fmt"
	"strconv"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

// Refund is one recorded request to give money of a paid order back: the
// order's cancellation (Seq 0, all that remained unrefunded when it was
// asked) or one of its partial refunds (Seq 1, 2, ... in the order they
// were asked). Its Amount is fixed when it is recorded, against the
// order's reserved running total, so the refunds of an order never add up
// to more than its price and billing is never asked for one it must
// refuse.
type Refund struct {
	OrderID string
	UserID  string
	Seq     int
	// RequestID is the client's idempotency key ("" = none; a partial
	// refund always has one).
	RequestID string
	Amount    int64
	// Asked is what billing is asked for: Amount, or 0 ("all that
	// remains") for a cancellation recorded before refunds were counted
	// one by one, whose key billing may already hold with 0.
	Asked int64
	// BillingKey is the refund's idempotency key in billing
	// (RefundRequestID or PartialRefundRequestID).
	BillingKey string
	Reason     string
	// Attempts counts the repair loop's attempts (the request's own is not
	// counted).
	Attempts int
	// Done is set once billing's refund is recorded.
	Done bool
}

// Cancels reports whether r is the order's cancellation rather than a
// partial refund.
func (r Refund) Cancels() bool { return r.Seq == 0 }

// PartialRefundRequestID is the idempotency key in billing of partial
// refund seq of an order; the cancellation keeps RefundRequestID, the key
// cancellations had before partial refunds existed.
func PartialRefundRequestID(orderID string, seq int) string {
	return RefundRequestID(orderID) + "/" + strconv.Itoa(seq)
}

// RefundLetterRequestID is the idempotency key of the letter announcing
// refund seq of an order: one letter per refund.
func RefundLetterRequestID(orderID string, seq int) string {
	return "order/" + orderID + "/refund-letter/" + strconv.Itoa(seq)
}

// RefundLetter writes the letter for refund r of order o that did not
// end the order (the one that does gets CancelLetter), from stored fields
// only, so every retry sends the identical letter.
func RefundLetter(o Order, r Refund, given int64) Letter {
	return Letter{
		UserID: o.UserID, Email: o.Email, OrderID: o.ID, RequestID: RefundLetterRequestID(o.ID, r.Seq),
		Subject: fmt.Sprintf("Part of order %s was refunded", o.ID),
		Body: fmt.Sprintf("Hello,\n\n%s of your order %s was refunded; %s of its %s are refunded so far.\n\nThank you for shopping with kassa.\n",
			FormatAmount(given, o.Currency), o.ID, FormatAmount(o.Refunded, o.Currency), FormatAmount(o.Price, o.Currency)),
	}
}

// StepRefund: give money of a paid order back (a refund in billing).
const StepRefund Step = "refund"

// Reasons of the refusals of a partial refund the order cannot take.
const (
	ReasonRefundExceedsRemaining = "REFUND_EXCEEDS_REMAINING"
	ReasonNotPaid                = "ORDER_NOT_PAID"
	ReasonRefundRefused          = "REFUND_REFUSED"
)

// ErrRefundExceedsRemaining refuses a partial refund of amount when only
// remaining of order id's price is left to refund (0 for an order that is
// cancelled or being cancelled).
func ErrRefundExceedsRemaining(id string, amount, remaining int64) error {
	return apperr.FailedPrecondition("a refund of %d exceeds the %d that remain unrefunded of order %s", amount, remaining, id).
		WithReason(ReasonRefundExceedsRemaining)
}

// ErrNotPaid refuses a partial refund of an order billing declined: it
// took no money.
func ErrNotPaid(id string) error {
	return apperr.FailedPrecondition("order %s was declined by billing and took no money; there is nothing to refund", id).
		WithReason(ReasonNotPaid)
}
