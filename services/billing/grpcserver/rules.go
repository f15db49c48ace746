package grpcserver

import (
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
)

// Rules is who may call each BillingService method: the table cmd/billing
// gives the server (boot.Spec.Auth). The rule only lets a caller in; the
// handlers then check the account is the caller's (auth.Owner: customers
// reach their own account, admins every account, another customer's answers
// ACCOUNT_NOT_FOUND) and, for Withdraw, who may pay an order.
var Rules = map[string]auth.Rule{
	// Accounts follow users: the user service opens one when a user
	// registers and closes it when the user is deleted. No customer opens
	// or closes an account directly.
	billingv1.BillingService_CreateAccount_FullMethodName: auth.Services("user"),
	billingv1.BillingService_CloseAccount_FullMethodName:  auth.Services("user"),

	// The customer's own money. No service moves it or reads the ledger.
	billingv1.BillingService_Deposit_FullMethodName:          auth.Customer,
	billingv1.BillingService_ListTransactions_FullMethodName: auth.Customer,
	// An account exists exactly for every user ever created (deleting a
	// user closes it, never removes it), so the order and notification
	// services ask for it to tell an unknown user from one with an empty
	// list, the way ListTransactions does.
	billingv1.BillingService_GetAccount_FullMethodName: auth.AnyOf(auth.Customer, auth.Services("order", "notification")),

	// A customer withdraws from their own account without an order; the
	// order service pays orders (order_id set, and only it may set one).
	// The handler enforces the order_id half (checkPayer).
	billingv1.BillingService_Withdraw_FullMethodName: auth.AnyOf(auth.Customer, auth.Services("order")),

	// Money goes back when an order is cancelled, so the order service
	// refunds; a customer who could refund could give themselves back
	// money for goods they keep, and an admin corrects no balance behind
	// the order's back.
	billingv1.BillingService_Refund_FullMethodName: auth.Services("order"),
}
