package grpcserver_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/notification/app"
	"github.com/kassa-dev/kassa/services/notification/grpcserver"
	"github.com/kassa-dev/kassa/services/notification/peers"
	"github.com/kassa-dev/kassa/services/notification/postgres"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// client calls the server with the identities the service expects: letters
// are sent by the order service and read by the user they belong to (the
// request's user_id). A read whose user_id is not a user id is made by some
// other customer, who must get INVALID_ARGUMENT all the same. Tests of who
// may call what use raw, with tokens of their own.
type client struct {
	t       *testing.T
	raw     notificationv1.NotificationServiceClient
	iss     *authtest.Issuer
	db      *sqlx.DB
	order   grpc.CallOption
	billing *fakeBilling // the service's billing peer, over real gRPC
}

func newClient(t *testing.T) client {
	t.Helper()
	return newClientWith(t, app.Config{})
}

// newClientWith is newClient with the service configured by cfg.
func newClientWith(t *testing.T, cfg app.Config) client {
	t.Helper()
	iss := authtest.NewIssuer(t)
	db := pgtest.NewDB(t, postgres.Migrations)
	billing, billingConn := serveBilling(t, iss)
	svc := app.New(postgres.New(db), peers.NewAccounts(billingv1.NewBillingServiceClient(billingConn)), cfg)
	conn := authtest.Serve(t, iss.Verifier(t), grpcserver.Rules, func(s *grpc.Server) {
		notificationv1.RegisterNotificationServiceServer(s, grpcserver.New(svc))
	})
	return client{t: t, raw: notificationv1.NewNotificationServiceClient(conn), iss: iss, db: db,
		order: authtest.Bearer(iss.Service(t, "order")), billing: billing}
}

// as is a call option carrying a customer token of userID.
func (c client) as(userID string) grpc.CallOption {
	c.t.Helper()
	if uuid.Validate(userID) != nil {
		userID = authtest.NewUserID()
	}
	return authtest.Bearer(c.iss.Customer(c.t, userID))
}

func (c client) SendNotification(ctx context.Context, r *notificationv1.SendNotificationRequest) (*notificationv1.Notification, error) {
	return c.raw.SendNotification(ctx, r, c.order)
}

func (c client) GetNotification(ctx context.Context, r *notificationv1.GetNotificationRequest) (*notificationv1.Notification, error) {
	return c.raw.GetNotification(ctx, r, c.as(r.GetUserId()))
}

func (c client) ListNotifications(ctx context.Context, r *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	return c.raw.ListNotifications(ctx, r, c.as(r.GetUserId()))
}

func sendReq(userID, requestID string) *notificationv1.SendNotificationRequest {
	return &notificationv1.SendNotificationRequest{
		UserId:    userID,
		RequestId: requestID,
		Notification: &notificationv1.Notification{
			Email: "ada@example.com", Subject: "Order paid", Body: "We received your payment.",
		},
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func TestSendNotification_Validation(t *testing.T) {
	c := newClient(t)
	user := uuid.NewString()
	tests := []struct {
		name   string
		edit   func(r *notificationv1.SendNotificationRequest)
		errHas string
	}{
		{"no user_id", func(r *notificationv1.SendNotificationRequest) { r.UserId = "" }, "user_id"},
		{"malformed user_id", func(r *notificationv1.SendNotificationRequest) { r.UserId = "42" }, "user_id"},
		{"no letter", func(r *notificationv1.SendNotificationRequest) { r.Notification = nil }, "notification.email"},
		{"no email", func(r *notificationv1.SendNotificationRequest) { r.Notification.Email = "" }, "notification.email"},
		{"bad email", func(r *notificationv1.SendNotificationRequest) { r.Notification.Email = "ada-at-example.com" }, "notification.email"},
		{"email with display name", func(r *notificationv1.SendNotificationRequest) { r.Notification.Email = "Ada <ada@example.com>" }, "notification.email"},
		{"email too long", func(r *notificationv1.SendNotificationRequest) {
			r.Notification.Email = strings.Repeat("a", 250) + "@x.io"
		}, "notification.email"},
		{"no subject", func(r *notificationv1.SendNotificationRequest) { r.Notification.Subject = "" }, "notification.subject"},
		{"blank subject", func(r *notificationv1.SendNotificationRequest) { r.Notification.Subject = "   " }, "notification.subject"},
		{"subject too long", func(r *notificationv1.SendNotificationRequest) { r.Notification.Subject = strings.Repeat("s", 201) }, "notification.subject"},
		{"multi-line subject", func(r *notificationv1.SendNotificationRequest) { r.Notification.Subject = "hi\r\nBcc: x@y.z" }, "notification.subject"},
		{"no body", func(r *notificationv1.SendNotificationRequest) { r.Notification.Body = "" }, "notification.body"},
		{"body too long", func(r *notificationv1.SendNotificationRequest) { r.Notification.Body = strings.Repeat("b", 10001) }, "notification.body"},
		{"malformed order_id", func(r *notificationv1.SendNotificationRequest) { r.Notification.OrderId = "order-1" }, "notification.order_id"},
		{"request_id too long", func(r *notificationv1.SendNotificationRequest) { r.RequestId = strings.Repeat("r", 129) }, "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendReq(user, "")
			tt.edit(r)
			_, err := c.SendNotification(context.Background(), r)
			wantCode(t, err, codes.InvalidArgument)
			if !strings.Contains(status.Convert(err).Message(), tt.errHas) {
				t.Fatalf("message %q does not name %s", status.Convert(err).Message(), tt.errHas)
			}
		})
	}
	// The limits themselves are accepted (200 multi-byte characters is more
	// than 200 bytes, but the limit is in characters).
	r := sendReq(user, "")
	r.Notification.Subject = strings.Repeat("é", 200)
	r.Notification.Body = strings.Repeat("b", 10000)
	r.Notification.OrderId = uuid.NewString()
	got, err := c.SendNotification(context.Background(), r)
	if err != nil || got.GetOrderId() != r.Notification.OrderId || got.GetUserId() != user {
		t.Fatalf("letter at the limits: %v, %v", got, err)
	}
}

func TestSendNotification_SameRequestIDSameLetter_ReturnsFirst(t *testing.T) {
	c := newClient(t)
	user := uuid.NewString()
	first, err := c.SendNotification(context.Background(), sendReq(user, "paid-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.SendNotification(context.Background(), sendReq(user, "paid-1"))
	if err != nil || !proto.Equal(first, again) {
		t.Fatalf("retry = %v, %v; want %v", again, err, first)
	}
	list, err := c.ListNotifications(context.Background(), &notificationv1.ListNotificationsRequest{UserId: user})
	if err != nil || len(list.GetNotifications()) != 1 {
		t.Fatalf("stored %d letters, %v; want 1", len(list.GetNotifications()), err)
	}
}

func TestSendNotification_SameRequestIDOtherLetter_AlreadyExists(t *testing.T) {
	c := newClient(t)
	user := uuid.NewString()
	if _, err := c.SendNotification(context.Background(), sendReq(user, "paid-1")); err != nil {
		t.Fatal(err)
	}
	other := sendReq(user, "paid-1")
	other.Notification.Subject = "Order refunded"
	_, err := c.SendNotification(context.Background(), other)
	wantCode(t, err, codes.AlreadyExists)
}

func TestSendNotification_ConcurrentDuplicates_StoredOnce(t *testing.T) {
	c := newClient(t)
	user := uuid.NewString()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got, err := c.SendNotification(context.Background(), sendReq(user, "dup"))
			ids[i], errs[i] = got.GetId(), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: id %q, %v; want id %q", i, ids[i], errs[i], ids[0])
		}
	}
	list, err := c.ListNotifications(context.Background(), &notificationv1.ListNotificationsRequest{UserId: user})
	if err != nil || len(list.GetNotifications()) != 1 {
		t.Fatalf("stored %d letters, %v; want 1", len(list.GetNotifications()), err)
	}
}

func TestGetNotification(t *testing.T) {
	c := newClient(t)
	owner := uuid.NewString()
	sent, err := c.SendNotification(context.Background(), sendReq(owner, ""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetNotification(context.Background(), &notificationv1.GetNotificationRequest{UserId: owner, Id: sent.GetId()})
	if err != nil || !proto.Equal(got, sent) {
		t.Fatalf("Get = %v, %v; want %v", got, err, sent)
	}
	tests := []struct {
		name   string
		userID string
		id     string
		want   codes.Code
	}{
		{"another user's letter", uuid.NewString(), sent.GetId(), codes.NotFound},
		{"unknown id", owner, uuid.NewString(), codes.NotFound},
		{"empty id", owner, "", codes.InvalidArgument},
		{"malformed id", owner, "nope", codes.InvalidArgument},
		{"empty user_id", "", sent.GetId(), codes.InvalidArgument},
		{"malformed user_id", "x", sent.GetId(), codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetNotification(context.Background(), &notificationv1.GetNotificationRequest{UserId: tt.userID, Id: tt.id})
			wantCode(t, err, tt.want)
		})
	}
	// Another customer naming the owner in the path is told exactly what
	// an unknown letter would tell them.
	stranger := c.as(uuid.NewString())
	_, err = c.raw.GetNotification(context.Background(), &notificationv1.GetNotificationRequest{UserId: owner, Id: sent.GetId()}, stranger)
	wantCode(t, err, codes.NotFound)
	if r := grpcstatus.ReasonOf(err); r != "NOTIFICATION_NOT_FOUND" {
		t.Fatalf("reason = %q, want NOTIFICATION_NOT_FOUND", r)
	}
}

func TestListNotifications_NewestFirstAcrossPages(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	user := uuid.NewString()
	var sent []*notificationv1.Notification
	for range 7 {
		n, err := c.SendNotification(ctx, sendReq(user, ""))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, n)
	}
	if _, err := c.SendNotification(ctx, sendReq(uuid.NewString(), "")); err != nil {
		t.Fatal(err)
	}
	// Expected order: by (create_time, id) descending, which is the order
	// they were sent in reverse unless two share a timestamp.
	slices.SortFunc(sent, func(a, b *notificationv1.Notification) int {
		if c := b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.GetId(), a.GetId())
	})
	var got []string
	token, pages := "", 0
	for {
		resp, err := c.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: user, PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetNotifications()) > 3 {
			t.Fatalf("page of %d, want at most 3", len(resp.GetNotifications()))
		}
		for _, n := range resp.GetNotifications() {
			got = append(got, n.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var want []string
	for _, n := range sent {
		want = append(want, n.GetId())
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("pages %d, ids %v; want 3 pages of %v", pages, got, want)
	}
	if got[0] != sent[0].GetId() {
		t.Fatal("first letter is not the newest")
	}
}

func TestListNotifications_BadRequests(t *testing.T) {
	c := newClient(t)
	user := uuid.NewString()
	tests := []struct {
		name string
		req  *notificationv1.ListNotificationsRequest
	}{
		{"no user_id", &notificationv1.ListNotificationsRequest{}},
		{"malformed user_id", &notificationv1.ListNotificationsRequest{UserId: "u1"}},
		{"negative page_size", &notificationv1.ListNotificationsRequest{UserId: user, PageSize: -1}},
		{"page_size too big", &notificationv1.ListNotificationsRequest{UserId: user, PageSize: 1001}},
		{"garbage page_token", &notificationv1.ListNotificationsRequest{UserId: user, PageToken: "!!!"}},
		{"forged page_token", &notificationv1.ListNotificationsRequest{UserId: user, PageToken: "eyJ0IjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListNotifications(context.Background(), tt.req)
			wantCode(t, err, codes.InvalidArgument)
		})
	}
	empty, err := c.ListNotifications(context.Background(), &notificationv1.ListNotificationsRequest{UserId: user})
	if err != nil || len(empty.GetNotifications()) != 0 || empty.GetNextPageToken() != "" {
		t.Fatalf("list of a user without letters = %v, %v", empty, err)
	}
}

func orderLetterReq(userID, orderID, body string) *notificationv1.SendNotificationRequest {
	r := sendReq(userID, "order/"+orderID+"/letter")
	r.Notification.OrderId = orderID
	r.Notification.Body = body
	return r
}

// A letter without order_id is stored under an order's letter key before
// the order's own letter (only the order service may send letters now, but
// the namespaces must not rely on that). That letter stays a client letter;
// the order's letter is stored as its own, with its own text, and retries
// of the order letter keep answering with it.
func TestSendNotification_ForgedOrderLetterKey_DoesNotReplaceOrderLetter(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	user, order := uuid.NewString(), uuid.NewString()
	const realText, forgedText = "Order paid: 100.", "Order failed: pay again at evil.example."

	forged := sendReq(user, "order/"+order+"/letter")
	forged.Notification.Body = forgedText
	client, err := c.SendNotification(ctx, forged)
	if err != nil || client.GetOrderId() != "" || client.GetBody() != forgedText {
		t.Fatalf("client letter = %v, %v; want it stored without order_id", client, err)
	}
	real, err := c.SendNotification(ctx, orderLetterReq(user, order, realText))
	if err != nil || real.GetId() == client.GetId() || real.GetBody() != realText || real.GetOrderId() != order {
		t.Fatalf("order letter = %v, %v; want its own letter with the real text", real, err)
	}
	again, err := c.SendNotification(ctx, orderLetterReq(user, order, realText))
	if err != nil || !proto.Equal(again, real) {
		t.Fatalf("retry of the order letter = %v, %v; want %v", again, err, real)
	}
	list, err := c.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: user})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, n := range list.GetNotifications() {
		bodies[n.GetId()] = n.GetBody()
	}
	if len(bodies) != 2 || bodies[client.GetId()] != forgedText || bodies[real.GetId()] != realText {
		t.Fatalf("listed %v; want the client letter and the order letter, each with its own text", bodies)
	}
}

// An order's letter key is the order's: sent for another recipient, or with
// another text, it is refused and shows nothing of the stored letter.
func TestSendNotification_OrderLetterKeyReused_RefusedWithoutLeak(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	owner, order := uuid.NewString(), uuid.NewString()
	const realText = "Order paid: 100."
	if _, err := c.SendNotification(ctx, orderLetterReq(owner, order, realText)); err != nil {
		t.Fatal(err)
	}
	stranger := uuid.NewString()
	tests := []struct {
		name string
		req  *notificationv1.SendNotificationRequest
	}{
		{"another recipient", orderLetterReq(stranger, order, realText)},
		{"another text", orderLetterReq(owner, order, "Order failed.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.SendNotification(ctx, tt.req)
			wantCode(t, err, codes.AlreadyExists)
			if got != nil || strings.Contains(status.Convert(err).Message(), realText) || strings.Contains(status.Convert(err).Message(), owner) {
				t.Fatalf("refusal leaks the stored letter: %v, %v", got, err)
			}
			if r := grpcstatus.ReasonOf(err); r != "REQUEST_ID_REUSED" {
				t.Fatalf("reason = %q, want REQUEST_ID_REUSED", r)
			}
		})
	}
	for _, u := range []struct {
		id   string
		want int
	}{{owner, 1}, {stranger, 0}} {
		list, err := c.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: u.id})
		if err != nil || len(list.GetNotifications()) != u.want {
			t.Fatalf("user %s has %d letters, %v; want %d", u.id, len(list.GetNotifications()), err, u.want)
		}
		if u.want == 1 && list.GetNotifications()[0].GetBody() != realText {
			t.Fatalf("order letter overwritten: %v", list.GetNotifications()[0])
		}
	}
}
