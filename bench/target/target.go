// Package target sends the workload's requests to kassa: through the REST
// gateway, or to the services' gRPC APIs directly with the generated
// clients. Both answer in the same terms so one load loop drives either.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Order statuses as Answer reports them.
const (
	Paid     = "paid"
	Rejected = "rejected"
	Pending  = "pending"
)

// Answer is kassa's reply to one request.
type Answer struct {
	// Code is "" when kassa answered successfully, otherwise the failure
	// ("Unavailable", "http 503 Unavailable", "timeout", ...).
	Code string
	// Status is the order's status (orders only).
	Status string
	// OrderID is the order's id (orders only).
	OrderID string
}

// User is a simulated customer: its id and the access token it logged in
// with, which every request on its behalf carries (each kassa service
// checks it; another customer's token would get 404).
type User struct {
	ID    string
	Token string
}

// Target is one way into kassa.
type Target interface {
	Name() string
	Order(ctx context.Context, u User, price int64, requestID string) Answer
	Deposit(ctx context.Context, u User, amount int64, requestID string) Answer
	Close() error
}

// REST drives the gateway's JSON API.
type REST struct {
	base   string
	client *http.Client
}

// NewREST returns a REST target on the gateway at base (http://host:port)
// keeping up to conns connections open.
func NewREST(base string, conns int) *REST {
	return &REST{base: strings.TrimRight(base, "/"), client: HTTPClient(conns)}
}

// HTTPClient is the benchmark's HTTP client: no proxy, no compression,
// up to conns connections kept open to the gateway.
func HTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr}
}

// Name implements Target.
func (r *REST) Name() string { return "rest" }

// Close drops the idle connections.
func (r *REST) Close() error {
	r.client.CloseIdleConnections()
	return nil
}

// Order posts /v1/users/{id}/orders with the key in Idempotency-Key, as a
// REST client does.
func (r *REST) Order(ctx context.Context, u User, price int64, requestID string) Answer {
	body := `{"price":"` + strconv.FormatInt(price, 10) + `"}`
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if code := r.post(ctx, u, "/v1/users/"+u.ID+"/orders", body, requestID, &out); code != "" {
		return Answer{Code: code}
	}
	return Answer{Status: restStatus(out.Status), OrderID: out.ID}
}

// Deposit posts /v1/users/{id}/account:deposit.
func (r *REST) Deposit(ctx context.Context, u User, amount int64, requestID string) Answer {
	body := `{"amount":"` + strconv.FormatInt(amount, 10) + `","requestId":"` + requestID + `"}`
	if code := r.post(ctx, u, "/v1/users/"+u.ID+"/account:deposit", body, "", nil); code != "" {
		return Answer{Code: code}
	}
	return Answer{}
}

func (r *REST) post(ctx context.Context, u User, path, body, idempotencyKey string, out any) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, strings.NewReader(body))
	if err != nil {
		return "bad request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	return r.send(ctx, u, req, out)
}

// send sends req with u's token and reads a 200 answer into out; it
// returns the failure otherwise.
func (r *REST) send(ctx context.Context, u User, req *http.Request, out any) string {
	if u.Token != "" {
		req.Header.Set("Authorization", "Bearer "+u.Token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return transportCode(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return transportCode(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		var st struct {
			Code int `json:"code"`
		}
		if json.Unmarshal(b, &st) == nil && st.Code != 0 {
			return fmt.Sprintf("http %d %s", resp.StatusCode, codes.Code(st.Code))
		}
		return fmt.Sprintf("http %d", resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return "bad response"
		}
	}
	return ""
}

func restStatus(s string) string {
	switch s {
	case "STATUS_PAID":
		return Paid
	case "STATUS_REJECTED":
		return Rejected
	case "STATUS_PENDING":
		return Pending
	}
	return strings.ToLower(strings.TrimPrefix(s, "STATUS_"))
}

// transportCode names a failure to get any HTTP answer.
func transportCode(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	}
	return "transport error"
}

// GRPC drives the order and billing services directly.
type GRPC struct {
	conns   []*grpc.ClientConn
	orders  orderv1.OrderServiceClient
	billing billingv1.BillingServiceClient
}

// NewGRPC dials the order and billing services. gRPC multiplexes the
// concurrent calls over one HTTP/2 connection per service, as a Go client
// of kassa would.
func NewGRPC(orderAddr, billingAddr string) (*GRPC, error) {
	g := &GRPC{}
	for _, addr := range []string{orderAddr, billingAddr} {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		g.conns = append(g.conns, c)
	}
	g.orders = orderv1.NewOrderServiceClient(g.conns[0])
	g.billing = billingv1.NewBillingServiceClient(g.conns[1])
	return g, nil
}

// Name implements Target.
func (g *GRPC) Name() string { return "grpc" }

// Close closes the connections.
func (g *GRPC) Close() error {
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Order calls OrderService.CreateOrder.
func (g *GRPC) Order(ctx context.Context, u User, price int64, requestID string) Answer {
	o, err := g.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{
		UserId: u.ID, Order: &orderv1.Order{Price: price}, RequestId: requestID,
	}, bearer(u.Token))
	if err != nil {
		return Answer{Code: grpcCode(err)}
	}
	var st string
	switch o.GetStatus() {
	case orderv1.Order_STATUS_PAID:
		st = Paid
	case orderv1.Order_STATUS_REJECTED:
		st = Rejected
	case orderv1.Order_STATUS_PENDING:
		st = Pending
	default:
		st = o.GetStatus().String()
	}
	return Answer{Status: st, OrderID: o.GetId()}
}

// Deposit calls BillingService.Deposit.
func (g *GRPC) Deposit(ctx context.Context, u User, amount int64, requestID string) Answer {
	if _, err := g.billing.Deposit(ctx, &billingv1.DepositRequest{UserId: u.ID, Amount: amount, RequestId: requestID}, bearer(u.Token)); err != nil {
		return Answer{Code: grpcCode(err)}
	}
	return Answer{}
}

// bearer attaches a user's token to one call. The connections are shared
// by all simulated users, so the token goes per call, not per connection.
func bearer(token string) grpc.CallOption { return grpc.PerRPCCredentials(tokenCreds(token)) }

// tokenCreds is an access token as "authorization: Bearer" metadata.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if t == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity is false: the benchmark dials the local stack
// in plaintext.
func (tokenCreds) RequireTransportSecurity() bool { return false }

func grpcCode(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return status.FromContextError(err).Code().String()
}
