package grpcserver

import (
	"context"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/validate"
)

// Rules is the access rule of every RPC the order service serves (set as
// boot.Spec.Auth). The customer RPCs admit any verified customer; whose
// orders they touch is checked in the handler against the token (see
// buyer and reader), never taken from the request alone. No service
// identity calls the order service, so none is admitted.
var Rules = map[string]auth.Rule{
	orderv1.OrderService_CreateOrder_FullMethodName: auth.Customer,
	orderv1.OrderService_GetOrder_FullMethodName:    auth.Customer,
	orderv1.OrderService_ListOrders_FullMethodName:  auth.Customer,
	orderv1.OrderService_CancelOrder_FullMethodName: auth.Customer,

	orderv1.OrderAdminService_ListParked_FullMethodName:  auth.Admin,
	orderv1.OrderAdminService_RetryParked_FullMethodName: auth.Admin,
}

// buyer checks that the caller may place an order for userID and returns
// the id in canonical form. Only that customer may: another customer gets
// the unknown-user answer (a user id of someone else looks missing), and
// an admin, who may read anyone's orders, gets PERMISSION_DENIED, because
// spending a user's money is not an operator's task and the admin knows
// the user exists anyway. A malformed id is INVALID_ARGUMENT for everyone:
// it is nobody's, so saying so reveals nothing.
func buyer(ctx context.Context, userID string) (string, error) {
	id, err := validate.ID("user_id", userID)
	if err != nil {
		return "", err
	}
	p, _ := auth.FromContext(ctx)
	switch {
	case p.IsCustomer() && p.UserID == id:
		return id, nil
	case p.IsAdmin():
		return "", auth.Denied("an admin may read other users' orders but not place them")
	}
	return "", order.ErrUserNotFound(id)
}

// isCaller reports whether the verified caller is the user userID (its
// token names it), who therefore exists.
func isCaller(ctx context.Context, userID string) bool {
	p, _ := auth.FromContext(ctx)
	return p.UserID != "" && p.UserID == userID
}

// reader checks that the caller may read userID's orders (that customer
// or an admin) and returns the id in canonical form; anyone else gets
// notFound(id), the answer for a missing resource.
func reader(ctx context.Context, userID string, notFound func(id string) error) (string, error) {
	id, err := validate.ID("user_id", userID)
	if err != nil {
		return "", err
	}
	if err := auth.Owner(ctx, id, notFound(id)); err != nil {
		return "", err
	}
	return id, nil
}
