// Package overload measures how kassa behaves when it is offered more
// orders than it can serve: at a constant arrival rate above the peak
// (open loop, so the excess does not politely wait for answers), through
// the REST gateway, it sorts every answer into a paid order, a shed
// request (429 or 503 with Retry-After) or a failure, and reports the
// goodput (paid orders per second) and the latencies of the admitted and
// of the shed requests apart. Check then reads the databases: every paid
// answer is one paid order, no refused request became an order or moved
// money, and no order was declined for the overload.
package overload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/bench/load"
	"github.com/kassa-dev/kassa/bench/target"
)

// Config is one run at one rate.
type Config struct {
	// Rate is the offered rate, orders per second.
	Rate             float64
	Warmup, Duration time.Duration
	// Timeout is each request's deadline.
	Timeout time.Duration
	// Clients bounds the requests in flight: high, so that the generator
	// stays open-loop (it never waits for kassa before sending the next).
	Clients int
	// Price of every order, in minor units.
	Price int64
	// Keys prefixes the idempotency keys, one per request: Check finds the
	// run's orders by it.
	Keys string
}

// Outcome labels of the load results.
const (
	LabelPaid = "paid" // a paid order
	LabelShed = "shed" // refused with 429 or 503 and Retry-After
)

// Result is what one run measured.
type Result struct {
	Offered float64 `json:"offered_per_s"`
	// Goodput is paid orders per second within the window.
	Goodput float64 `json:"goodput_per_s"`
	Shed    float64 `json:"shed_per_s"`
	// AdmittedP99 and ShedP99 are the 99th percentiles of the answer
	// time, from the scheduled send, of the paid orders and of the shed
	// requests (ms).
	AdmittedP99 float64 `json:"admitted_p99_ms"`
	AdmittedP50 float64 `json:"admitted_p50_ms"`
	ShedP99     float64 `json:"shed_p99_ms"`
	// Codes counts the answers that were neither by kind ("http 500",
	// "timeout", "shed without Retry-After").
	Codes map[string]int64 `json:"failures,omitempty"`
	// ShedStatus counts the shed answers by HTTP status.
	ShedStatus map[string]int64 `json:"shed_by_status,omitempty"`
	Load       load.Result      `json:"load"`

	mu     sync.Mutex
	keys   map[string]answer // by idempotency key
	users  []target.User
	price  int64
	prefix string // of the run's idempotency keys
}

// answer is what one request got.
type answer struct {
	label  string // LabelPaid, LabelShed or a failure code
	status string // the HTTP status of a shed answer
	user   int64  // index in Result.users
}

// Sender posts orders to the gateway, with enough connections for an open
// loop at twice the peak.
type Sender struct {
	base   string
	client *http.Client
}

// NewSender returns a Sender on the gateway at base (http://host:port).
func NewSender(base string, conns int) *Sender {
	return &Sender{base: strings.TrimRight(base, "/"), client: target.HTTPClient(conns)}
}

// Close drops the idle connections.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// order posts one order and sorts the answer: LabelPaid, LabelShed (with
// the HTTP status in status), or a failure code.
func (s *Sender) order(ctx context.Context, u target.User, price int64, key string) (label, status string) {
	body := `{"price":"` + strconv.FormatInt(price, 10) + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/users/"+u.ID+"/orders", strings.NewReader(body))
	if err != nil {
		return "bad request", ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.Token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return "timeout", ""
		}
		return "transport error", ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "transport error", ""
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var o struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(b, &o) != nil || o.Status != "STATUS_PAID" {
			return "not paid: " + o.Status, ""
		}
		return LabelPaid, ""
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" {
			return "shed without Retry-After", ""
		}
		return LabelShed, strconv.Itoa(resp.StatusCode)
	}
	return "http " + strconv.Itoa(resp.StatusCode), ""
}

// Run offers cfg.Rate orders per second, request i on users[i % len(users)]
// (one user: a hot account), and measures.
func Run(ctx context.Context, cfg Config, s *Sender, users []target.User) *Result {
	return run(ctx, cfg, s, users, false)
}

// closedRate is the schedule of Closed: far more than any client keeps
// up with, so each of the cfg.Clients sends its next order as soon as the
// previous one answered.
const closedRate = 20_000

// Closed is Run in a closed loop: cfg.Clients clients, each sending its
// next order when the previous one answered, cfg.Rate ignored. Its
// goodput is the most those clients get served; its latencies, taken
// from a schedule nobody keeps, mean nothing.
func Closed(ctx context.Context, cfg Config, s *Sender, users []target.User) *Result {
	cfg.Rate = closedRate
	return run(ctx, cfg, s, users, true)
}

func run(ctx context.Context, cfg Config, s *Sender, users []target.User, closed bool) *Result {
	res := &Result{Offered: cfg.Rate, keys: map[string]answer{}, Codes: map[string]int64{}, ShedStatus: map[string]int64{},
		users: users, price: cfg.Price, prefix: cfg.Keys + "-"}
	do := func(ctx context.Context, i int64) load.Outcome {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		key := res.prefix + strconv.FormatInt(i, 10)
		label, status := s.order(ctx, users[i%int64(len(users))], cfg.Price, key)
		res.mu.Lock()
		res.keys[key] = answer{label: label, status: status, user: i % int64(len(users))}
		if status != "" {
			res.ShedStatus["http "+status]++
		}
		res.mu.Unlock()
		switch label {
		case LabelPaid, LabelShed:
			// A shed answer is a correct one: its latency is recorded
			// under its own label.
			return load.Outcome{Label: label}
		}
		return load.Outcome{Label: LabelPaid, Code: label}
	}
	res.Load = load.Run(ctx, load.Config{Rate: cfg.Rate, Warmup: cfg.Warmup, Duration: cfg.Duration, Clients: cfg.Clients, Grace: 2 * time.Second}, do, nil)
	if paid := res.Load.Labels[LabelPaid]; paid != nil {
		res.Goodput, res.AdmittedP99, res.AdmittedP50 = paid.PerSecond, paid.Latency.P99, paid.Latency.P50
		for code, n := range paid.Errors {
			res.Codes[code] += n
		}
	}
	if shed := res.Load.Labels[LabelShed]; shed != nil {
		res.Shed, res.ShedP99 = shed.PerSecond, shed.Latency.P99
	}
	if res.Load.Unsent > 0 && !closed {
		res.Codes["unsent"] += res.Load.Unsent
	}
	return res
}

// Line is a one-line summary for the benchmark's output.
func (r *Result) Line() string {
	return fmt.Sprintf("offered %6.1f/s → paid %6.1f/s (p50 %5.1f, p99 %6.1f ms), shed %6.1f/s (p99 %5.1f ms) %v, failures %v",
		r.Offered, r.Goodput, r.AdmittedP50, r.AdmittedP99, r.Shed, r.ShedP99, r.ShedStatus, load.Codes(r.Codes))
}
