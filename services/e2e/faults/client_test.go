package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A client as the issue asks every client to behave: one idempotency key
// per intended operation, the same key again on any 5xx or transport error
// until a final answer or the operation's deadline. What it sees on the way
// is kept as evidence.

const (
	attemptTimeout = 15 * time.Second
	// opDeadline bounds one operation's retries: far beyond any fault the
	// suite injects, so running out of it is a finding, not bad luck.
	opDeadline = 2 * time.Minute
)

// transportPhrases are texts of the gRPC library and the network that a
// client must never see in a gateway answer: the gateway's 503s are its own.
var transportPhrases = []string{
	"connection reset", "connection refused", "error reading from server", "closing transport",
	"graceful_stop", "transport is closing", "EOF", "broken pipe", "driver: bad connection",
}

// outcome is the final answer to one order.
type outcome struct {
	ID     string
	Status string // STATUS_PAID or STATUS_REJECTED
}

// attempt is one try of an operation, for the SIGTERM in-flight figures.
type attempt struct {
	start, end time.Time
	cut        bool // no answer: a transport error
}

// evidence collects what clients saw. Findings are violations of the
// documented behaviour; they fail the suite.
type evidence struct {
	mu       sync.Mutex
	retries  int
	byCause  map[string]int // retry causes: "transport", "503", ...
	findings map[string][]string
	attempts []attempt
}

func newEvidence() *evidence {
	return &evidence{byCause: map[string]int{}, findings: map[string][]string{}}
}

func (e *evidence) retry(cause string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.retries++
	e.byCause[cause]++
}

func (e *evidence) finding(kind, detail string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.findings[kind] = append(e.findings[kind], detail)
}

func (e *evidence) tried(a attempt) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempts = append(e.attempts, a)
}

// backoff sleeps before retry n (0-based): exponential from 50ms, capped at
// 1s, with full jitter so the clients do not retry in lockstep.
func backoff(ctx context.Context, n int) error {
	d := min(50*time.Millisecond<<min(n, 5), time.Second)
	select {
	case <-time.After(rand.N(d) + time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restClient calls the gateway.
type restClient struct {
	base string
	http *http.Client
	ev   *evidence
}

func newRESTClient(base string, ev *evidence) *restClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &restClient{base: base, http: &http.Client{Timeout: attemptTimeout, Transport: tr}, ev: ev}
}

// errRefused is a 4xx answer a well-formed request must not get.
var errRefused = errors.New("refused")

// call sends one request until it gets a final answer: 2xx (decoded into
// out), or a 4xx other than 409/429 (errRefused). key goes in the
// Idempotency-Key header when not empty.
func (c *restClient) call(ctx context.Context, what, method, path, key string, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, opDeadline)
	defer cancel()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		if n > 0 {
			if err := backoff(ctx, n-1); err != nil {
				return fmt.Errorf("%s: no final answer within %v (%d attempts)", what, opDeadline, n)
			}
		}
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return err
		}
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		if tok := tokenOf(ctx); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		a := attempt{start: time.Now()}
		resp, err := c.http.Do(req)
		if err != nil {
			a.end, a.cut = time.Now(), true
			c.ev.tried(a)
			c.ev.retry("transport")
			continue
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.end = time.Now()
		c.ev.tried(a)
		code := resp.StatusCode
		switch {
		case code/100 == 2:
			if err := json.Unmarshal(got, out); err != nil {
				return fmt.Errorf("%s: %d with an undecodable body %q: %w", what, code, got, err)
			}
			return nil
		case code == http.StatusConflict || code == http.StatusTooManyRequests:
			c.ev.retry(strconv.Itoa(code))
		case code/100 == 5:
			c.ev.retry(strconv.Itoa(code))
			if code == http.StatusInternalServerError {
				c.ev.finding("500 answers (a fault must answer 503 'retry with the same key')", fmt.Sprintf("%s: %s", what, got))
			}
			if p := transportPhrase(string(got)); p != "" {
				c.ev.finding("5xx texts from the transport (the gateway's 503 texts must be its own)", fmt.Sprintf("%s: %d %s", what, code, got))
			}
		default:
			return fmt.Errorf("%s: %w: %d %s", what, errRefused, code, got)
		}
	}
}

func transportPhrase(body string) string {
	for _, p := range transportPhrases {
		if strings.Contains(body, p) {
			return p
		}
	}
	return ""
}

// asUser makes the calls made with ctx carry u's access token: over REST
// as the Authorization header, over gRPC as authorization metadata.
func asUser(ctx context.Context, u user) context.Context {
	ctx = context.WithValue(ctx, tokenKey{}, u.token)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+u.token)
}

type tokenKey struct{}

func tokenOf(ctx context.Context) string { s, _ := ctx.Value(tokenKey{}).(string); return s }

// order places one order through the gateway under key.
func (c *restClient) order(ctx context.Context, userID, key string, price int64) (outcome, error) {
	what := fmt.Sprintf("REST order %s of user %s", key, userID)
	for {
		var o struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := c.call(ctx, what, http.MethodPost, "/v1/users/"+userID+"/orders", key, map[string]any{"price": strconv.FormatInt(price, 10)}, &o); err != nil {
			return outcome{}, err
		}
		if final(o.Status) {
			return outcome{ID: o.ID, Status: o.Status}, nil
		}
		// The contract: when CreateOrder answers, the order is final.
		c.ev.finding("200 answers with an order that is not final", fmt.Sprintf("%s: %s %s", what, o.ID, o.Status))
		c.ev.retry("200 not final")
		if err := backoff(ctx, 3); err != nil {
			return outcome{}, err
		}
	}
}

func final(status string) bool {
	return status == orderv1.Order_STATUS_PAID.String() || status == orderv1.Order_STATUS_REJECTED.String()
}

// grpcOrder places one order directly on the order service under key.
func grpcOrder(ctx context.Context, orders orderv1.OrderServiceClient, ev *evidence, userID, key string, price int64) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, opDeadline)
	defer cancel()
	what := fmt.Sprintf("gRPC order %s of user %s", key, userID)
	for n := 0; ; n++ {
		if n > 0 {
			if err := backoff(ctx, n-1); err != nil {
				return outcome{}, fmt.Errorf("%s: no final answer within %v (%d attempts)", what, opDeadline, n)
			}
		}
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		a := attempt{start: time.Now()}
		o, err := orders.CreateOrder(actx, &orderv1.CreateOrderRequest{UserId: userID, Order: &orderv1.Order{Price: price}, RequestId: key})
		acancel()
		a.end = time.Now()
		code := status.Code(err)
		a.cut = code == codes.Unavailable || code == codes.DeadlineExceeded
		ev.tried(a)
		switch code {
		case codes.OK:
			if final(o.GetStatus().String()) {
				return outcome{ID: o.GetId(), Status: o.GetStatus().String()}, nil
			}
			ev.finding("200 answers with an order that is not final", fmt.Sprintf("%s: %s %s", what, o.GetId(), o.GetStatus()))
			ev.retry("OK not final")
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
			ev.retry(code.String())
		case codes.Internal, codes.Unknown:
			ev.retry(code.String())
			ev.finding("gRPC Internal/Unknown answers (a fault must answer Unavailable 'retry with the same key')", fmt.Sprintf("%s: %v", what, err))
		default:
			return outcome{}, fmt.Errorf("%s: %w: %v", what, errRefused, err)
		}
	}
}
