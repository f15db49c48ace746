package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Who may do what, over every RPC of every kassa service and every REST
// route, for every kind of caller. The table below is the one place that
// says it; TestAuthzTable_CoversEveryRPCAndRoute fails when a service
// registers an RPC or http.yaml gains a route the table has no row for.

// caller is a column of the table.
type caller int

const (
	noToken caller = iota
	badToken
	otherCustomer
	theOwner
	anAdmin
	serviceUser
	serviceOrder
	serviceNotification
	numCallers
)

var callerNames = [numCallers]string{"no token", "bad token", "another customer", "the owner", "admin", "service user", "service order", "service notification"}

func (c caller) String() string { return callerNames[c] }

// want is the answer of each caller, as a gRPC code; over REST it is the
// HTTP status the gateway maps it to.
type want [numCallers]codes.Code

// Shorthands for the cells.
const (
	OK  = codes.OK
	U   = codes.Unauthenticated
	P   = codes.PermissionDenied
	NF  = codes.NotFound
	Inv = codes.InvalidArgument
)

// restStatus is the gateway's HTTP status for a gRPC code.
var restStatus = map[codes.Code]int{
	codes.OK: http.StatusOK, codes.InvalidArgument: http.StatusBadRequest, codes.FailedPrecondition: http.StatusBadRequest,
	codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden,
	codes.NotFound: http.StatusNotFound, codes.AlreadyExists: http.StatusConflict,
}

// restRoute is an RPC's rule in http.yaml and how to fill it.
type restRoute struct {
	method, pattern string
	body            func(v victim) map[string]any // nil: no body
	// want, when set, is what REST callers get instead of the row's
	// gRPC answers: the gateway refuses some requests before any service
	// sees them.
	want *want
}

// authzRow is one RPC (or one variant of it, such as Withdraw with an
// order id) and what each caller gets.
type authzRow struct {
	name    string
	method  string // full gRPC method name
	request func(v victim) proto.Message
	rest    *restRoute // nil when the RPC has no REST route
	want    want
	// mutates: an allowed call changes the owner's state, so each allowed
	// cell runs on a victim of its own. Refused cells always share one and
	// must leave it as it was.
	mutates bool
}

func newProfile() *userv1.User {
	id := randomID()
	return &userv1.User{Username: "authz-" + id, Email: "authz-" + id + "@example.com", Password: testPassword(id)}
}

// freshLogin logs the victim in again, for a refresh token of its own.
func freshLogin(t *testing.T, v victim) string {
	t.Helper()
	resp, err := sys.auth.Login(context.Background(), &userv1.LoginRequest{Username: v.owner.username, Password: v.owner.password})
	if err != nil {
		t.Fatalf("login of the victim: %v", err)
	}
	return resp.GetRefreshToken()
}

func authzRows(t *testing.T) []authzRow {
	return []authzRow{
		// kassa.user.v1.UserService. Registration is public; a profile is
		// its owner's (admins read any, the order service reads buyers).
		{name: "CreateUser", method: userv1.UserService_CreateUser_FullMethodName,
			request: func(victim) proto.Message {
				return &userv1.CreateUserRequest{User: newProfile(), RequestId: "u-" + randomID()}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/users", body: func(victim) map[string]any {
				p := newProfile()
				return map[string]any{"username": p.Username, "email": p.Email, "password": p.Password}
			}},
			want: want{OK, OK, OK, OK, OK, OK, OK, OK}},
		{name: "ListUsers", method: userv1.UserService_ListUsers_FullMethodName,
			request: func(victim) proto.Message { return &userv1.ListUsersRequest{} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users"},
			want:    want{U, U, P, P, OK, P, P, P}},
		{name: "GetUser", method: userv1.UserService_GetUser_FullMethodName,
			request: func(v victim) proto.Message { return &userv1.GetUserRequest{Id: v.user} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{id}"},
			want:    want{U, U, NF, OK, OK, P, OK, P}},
		{name: "UpdateUser", method: userv1.UserService_UpdateUser_FullMethodName,
			request: func(v victim) proto.Message {
				return &userv1.UpdateUserRequest{User: &userv1.User{Id: v.user, FirstName: "Changed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"first_name"}}}
			},
			rest: &restRoute{method: "PATCH", pattern: "/v1/users/{user.id}", body: func(victim) map[string]any { return map[string]any{"firstName": "Changed"} }},
			want: want{U, U, NF, OK, OK, P, P, P}, mutates: true},
		{name: "DeleteUser", method: userv1.UserService_DeleteUser_FullMethodName,
			request: func(v victim) proto.Message { return &userv1.DeleteUserRequest{Id: v.user} },
			rest:    &restRoute{method: "DELETE", pattern: "/v1/users/{id}"},
			want:    want{U, U, NF, OK, OK, P, P, P}, mutates: true},

		// kassa.user.v1.AuthService: how a caller gets a token, so public;
		// a token sent along is not looked at.
		{name: "Login", method: userv1.AuthService_Login_FullMethodName,
			request: func(v victim) proto.Message {
				return &userv1.LoginRequest{Username: v.owner.username, Password: v.owner.password}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/auth/login", body: func(v victim) map[string]any {
				return map[string]any{"username": v.owner.username, "password": v.owner.password}
			}},
			want: want{OK, OK, OK, OK, OK, OK, OK, OK}},
		{name: "Refresh", method: userv1.AuthService_Refresh_FullMethodName,
			request: func(v victim) proto.Message { return &userv1.RefreshRequest{RefreshToken: freshLogin(t, v)} },
			rest: &restRoute{method: "POST", pattern: "/v1/auth/refresh", body: func(v victim) map[string]any {
				return map[string]any{"refreshToken": freshLogin(t, v)}
			}},
			want: want{OK, OK, OK, OK, OK, OK, OK, OK}},
		{name: "Logout", method: userv1.AuthService_Logout_FullMethodName,
			request: func(v victim) proto.Message { return &userv1.LogoutRequest{RefreshToken: freshLogin(t, v)} },
			rest: &restRoute{method: "POST", pattern: "/v1/auth/logout", body: func(v victim) map[string]any {
				return map[string]any{"refreshToken": freshLogin(t, v)}
			}},
			want: want{OK, OK, OK, OK, OK, OK, OK, OK}},
		// Without the client's secret no caller gets a service token,
		// whatever token it sends.
		{name: "Token with a wrong secret", method: userv1.AuthService_Token_FullMethodName,
			request: func(victim) proto.Message {
				return &userv1.TokenRequest{GrantType: "client_credentials", ClientId: "order", ClientSecret: "not the secret"}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/auth/token", body: func(victim) map[string]any {
				return map[string]any{"grantType": "client_credentials", "clientId": "order", "clientSecret": "not the secret"}
			}},
			want: want{U, U, U, U, U, U, U, U}},

		// kassa.user.v1.UserAdminService: operators only.
		{name: "UserAdmin ListParked", method: userv1.UserAdminService_ListParked_FullMethodName,
			request: func(victim) proto.Message { return &userv1.ListParkedRequest{} },
			want:    want{U, U, P, P, OK, P, P, P}},
		{name: "UserAdmin RetryParked", method: userv1.UserAdminService_RetryParked_FullMethodName,
			request: func(v victim) proto.Message { return &userv1.RetryParkedRequest{UserIds: []string{v.user}} },
			want:    want{U, U, P, P, OK, P, P, P}},

		// kassa.billing.v1.BillingService. Accounts are opened and closed
		// by the user service; money is moved by its owner only (an admin
		// reads any account but moves no one's money); orders are paid by
		// the order service only.
		{name: "CreateAccount", method: billingv1.BillingService_CreateAccount_FullMethodName,
			request: func(v victim) proto.Message { return &billingv1.CreateAccountRequest{UserId: v.user, Currency: "USD"} },
			want:    want{U, U, P, P, P, OK, P, P}},
		{name: "CloseAccount", method: billingv1.BillingService_CloseAccount_FullMethodName,
			request: func(v victim) proto.Message { return &billingv1.CloseAccountRequest{UserId: v.user} },
			want:    want{U, U, P, P, P, OK, P, P}, mutates: true},
		// The order and notification services read an account to tell an
		// unknown user from one with an empty list.
		{name: "GetAccount", method: billingv1.BillingService_GetAccount_FullMethodName,
			request: func(v victim) proto.Message { return &billingv1.GetAccountRequest{UserId: v.user} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{user_id}/account"},
			want:    want{U, U, NF, OK, OK, P, OK, OK}},
		{name: "Deposit", method: billingv1.BillingService_Deposit_FullMethodName,
			request: func(v victim) proto.Message {
				return &billingv1.DepositRequest{UserId: v.user, Amount: 5, RequestId: "d-" + randomID()}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/users/{user_id}/account:deposit", body: func(victim) map[string]any {
				return map[string]any{"amount": "5", "requestId": "d-" + randomID()}
			}},
			want: want{U, U, NF, OK, P, P, P, P}, mutates: true},
		{name: "Withdraw", method: billingv1.BillingService_Withdraw_FullMethodName,
			request: func(v victim) proto.Message {
				return &billingv1.WithdrawRequest{UserId: v.user, Amount: 5, RequestId: "w-" + randomID()}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/users/{user_id}/account:withdraw", body: func(victim) map[string]any {
				return map[string]any{"amount": "5", "requestId": "w-" + randomID()}
			}},
			want: want{U, U, NF, OK, P, P, P, P}, mutates: true},
		{name: "Withdraw with order_id", method: billingv1.BillingService_Withdraw_FullMethodName,
			request: func(v victim) proto.Message {
				return &billingv1.WithdrawRequest{UserId: v.user, Amount: 5, RequestId: "w-" + randomID(), OrderId: newUUID()}
			},
			// The public API never carries an order id: the gateway answers
			// 400 to every caller, before any token is looked at.
			rest: &restRoute{method: "POST", pattern: "/v1/users/{user_id}/account:withdraw", body: func(victim) map[string]any {
				return map[string]any{"amount": "5", "requestId": "w-" + randomID(), "orderId": newUUID()}
			}, want: &want{Inv, Inv, Inv, Inv, Inv}},
			want: want{U, U, P, P, P, P, OK, P}, mutates: true},
		// Refunds are the order service's: it gives back what an order
		// paid when the order is cancelled. Internal, so no REST route.
		{name: "Refund", method: billingv1.BillingService_Refund_FullMethodName,
			request: func(v victim) proto.Message {
				return &billingv1.RefundRequest{UserId: v.user, Original: &billingv1.RefundRequest_OrderId{OrderId: v.order},
					Amount: 5, RequestId: "r-" + randomID()}
			},
			want: want{U, U, P, P, P, P, OK, P}, mutates: true},
		{name: "ListTransactions", method: billingv1.BillingService_ListTransactions_FullMethodName,
			request: func(v victim) proto.Message { return &billingv1.ListTransactionsRequest{UserId: v.user} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{user_id}/account/transactions"},
			want:    want{U, U, NF, OK, OK, P, P, P}},

		// kassa.order.v1.OrderService: a customer orders on their own
		// account; an admin reads any orders but spends no one's money.
		{name: "CreateOrder", method: orderv1.OrderService_CreateOrder_FullMethodName,
			request: func(v victim) proto.Message {
				return &orderv1.CreateOrderRequest{UserId: v.user, Order: &orderv1.Order{Price: 10}, RequestId: "o-" + randomID()}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/users/{user_id}/orders", body: func(victim) map[string]any {
				return map[string]any{"price": "10", "requestId": "o-" + randomID()}
			}},
			want: want{U, U, NF, OK, P, P, P, P}, mutates: true},
		{name: "ListOrders", method: orderv1.OrderService_ListOrders_FullMethodName,
			request: func(v victim) proto.Message { return &orderv1.ListOrdersRequest{UserId: v.user} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{user_id}/orders"},
			want:    want{U, U, NF, OK, OK, P, P, P}},
		{name: "GetOrder", method: orderv1.OrderService_GetOrder_FullMethodName,
			request: func(v victim) proto.Message { return &orderv1.GetOrderRequest{UserId: v.user, Id: v.order} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{user_id}/orders/{id}"},
			want:    want{U, U, NF, OK, OK, P, P, P}},
		// Cancelling refunds the order: its owner may, and an admin, who
		// answers customers, may too.
		{name: "CancelOrder", method: orderv1.OrderService_CancelOrder_FullMethodName,
			request: func(v victim) proto.Message {
				return &orderv1.CancelOrderRequest{UserId: v.user, Id: v.order, Reason: "authz"}
			},
			rest: &restRoute{method: "POST", pattern: "/v1/users/{user_id}/orders/{id}:cancel", body: func(victim) map[string]any {
				return map[string]any{"reason": "authz"}
			}},
			want: want{U, U, NF, OK, OK, P, P, P}, mutates: true},
		{name: "OrderAdmin ListParked", method: orderv1.OrderAdminService_ListParked_FullMethodName,
			request: func(victim) proto.Message { return &orderv1.ListParkedRequest{} },
			want:    want{U, U, P, P, OK, P, P, P}},
		{name: "OrderAdmin RetryParked", method: orderv1.OrderAdminService_RetryParked_FullMethodName,
			request: func(v victim) proto.Message { return &orderv1.RetryParkedRequest{OrderIds: []string{v.order}} },
			want:    want{U, U, P, P, OK, P, P, P}},

		// kassa.notification.v1.NotificationService: letters are written
		// by the order service only and read by their owner.
		{name: "SendNotification", method: notificationv1.NotificationService_SendNotification_FullMethodName,
			request: func(v victim) proto.Message {
				return &notificationv1.SendNotificationRequest{UserId: v.user, RequestId: "n-" + randomID(),
					Notification: &notificationv1.Notification{Email: v.owner.email, Subject: "authz", Body: "authz"}}
			},
			want: want{U, U, P, P, P, P, OK, P}, mutates: true},
		{name: "ListNotifications", method: notificationv1.NotificationService_ListNotifications_FullMethodName,
			request: func(v victim) proto.Message { return &notificationv1.ListNotificationsRequest{UserId: v.user} },
			rest:    &restRoute{method: "GET", pattern: "/v1/users/{user_id}/notifications"},
			want:    want{U, U, NF, OK, OK, P, P, P}},
		{name: "GetNotification", method: notificationv1.NotificationService_GetNotification_FullMethodName,
			request: func(v victim) proto.Message {
				return &notificationv1.GetNotificationRequest{UserId: v.user, Id: v.letter}
			},
			rest: &restRoute{method: "GET", pattern: "/v1/users/{user_id}/notifications/{id}"},
			want: want{U, U, NF, OK, OK, P, P, P}},
	}
}

// callers holds each column's token for one victim ("" for none).
type callers [numCallers]string

func tokensFor(t *testing.T, v victim, other, adm *customer) callers {
	t.Helper()
	var c callers
	// The owner's own token in every respect but its age: only the
	// verification refuses it.
	expired, err := stackIssuer(t, func() time.Time { return time.Now().Add(-time.Hour) }).Customer(v.user, false)
	if err != nil {
		t.Fatal(err)
	}
	c[badToken] = expired.Token
	c[otherCustomer], c[theOwner], c[anAdmin] = other.token, v.owner.token, adm.token
	c[serviceUser], c[serviceOrder], c[serviceNotification] = serviceToken(t, "user"), serviceToken(t, "order"), serviceToken(t, "notification")
	return c
}

func TestAuthz_EveryRPC_EveryCaller(t *testing.T) {
	other, adm := restFundedUser(t, 1000), admin(t)
	shared := newVictim(t)
	sharedTokens := tokensFor(t, shared, other, adm)
	for _, row := range authzRows(t) {
		for who := range numCallers {
			t.Run(row.name+"/"+who.String(), func(t *testing.T) {
				v, toks := shared, sharedTokens
				allowed := row.want[who] == OK
				if allowed && row.mutates {
					v = newVictim(t)
					toks = tokensFor(t, v, other, adm)
				}
				before := snapshot(t, v.owner)
				ctx := context.Background()
				if toks[who] != "" {
					ctx = withToken(ctx, toks[who])
				}
				err := invoke(ctx, row.method, row.request(v))
				if got := status.Code(err); got != row.want[who] {
					t.Errorf("%s as %s: %v; want %v", row.method, who, err, row.want[who])
				}
				if !(allowed && row.mutates) {
					if after := snapshot(t, v.owner); after != before {
						t.Errorf("the call changed the owner's state:\n%s", changes(before, after))
					}
				}
			})
		}
	}
}

func TestAuthz_EveryRESTRoute_EveryCaller(t *testing.T) {
	other, adm := restFundedUser(t, 1000), admin(t)
	shared := newVictim(t)
	sharedTokens := tokensFor(t, shared, other, adm)
	for _, row := range authzRows(t) {
		if row.rest == nil {
			continue
		}
		// Services do not use REST: the service columns are the gRPC
		// test's.
		for who := range serviceUser {
			t.Run(row.name+"/"+who.String(), func(t *testing.T) {
				v, toks := shared, sharedTokens
				expected := row.want
				if row.rest.want != nil {
					expected = *row.rest.want
				}
				allowed := expected[who] == OK
				if allowed && row.mutates {
					v = newVictim(t)
					toks = tokensFor(t, v, other, adm)
				}
				before := snapshot(t, v.owner)
				var header map[string]string
				if toks[who] != "" {
					header = bearerHeader(toks[who])
				}
				var body any
				if row.rest.body != nil {
					body = row.rest.body(v)
				}
				a := call(t, row.rest.method, row.rest.path(v), body, header)
				if wantStatus := restStatus[expected[who]]; a.status != wantStatus {
					t.Errorf("%s %s as %s: %s; want %d", row.rest.method, row.rest.pattern, who, a, wantStatus)
				}
				if expected[who] == U {
					expectUnauthenticated(t, "refusal", a)
				}
				if !(allowed && row.mutates) {
					if after := snapshot(t, v.owner); after != before {
						t.Errorf("the call changed the owner's state:\n%s", changes(before, after))
					}
				}
			})
		}
	}
}

// path fills the route's pattern with the victim's ids.
func (r *restRoute) path(v victim) string {
	p := strings.NewReplacer("{user_id}", v.user, "{user.id}", v.user).Replace(r.pattern)
	switch {
	case strings.Contains(p, "/orders/{id}"):
		return strings.Replace(p, "{id}", v.order, 1)
	case strings.HasSuffix(p, "/notifications/{id}"):
		return strings.Replace(p, "{id}", v.letter, 1)
	}
	return strings.Replace(p, "{id}", v.user, 1)
}

// newUUID is a fresh random UUID (version 4).
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// invoke calls a method by its full name on the service that serves it.
func invoke(ctx context.Context, method string, req proto.Message) error {
	md, err := methodDescriptor(method)
	if err != nil {
		return err
	}
	svc := strings.Split(strings.TrimPrefix(method, "/kassa."), ".")[0]
	conn := sys.conns[svc]
	if conn == nil {
		return status.Errorf(codes.Internal, "no connection to %s", svc)
	}
	return conn.Invoke(ctx, method, req, dynamicpb.NewMessage(md.Output()))
}

func methodDescriptor(method string) (protoreflect.MethodDescriptor, error) {
	name := strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", ".")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, err
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil, status.Errorf(codes.Internal, "%s is not a method", name)
	}
	return md, nil
}
