package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAdmission bounds the API requests one gateway forwards at once
// (-max-in-flight, -max-queue, -max-wait). Under overload every request in
// flight waits its turn for the same cores, so the answer time is about
// the requests in flight divided by the rate served (Little's law): on
// the two-core reference machine, which serves about 400 orders a second,
// 8 in flight mean about 20 ms per order, and a p99 under 50 ms. Fewer
// than 8 leave the cores idle while requests wait for commits. The
// queue absorbs the bursts a busy machine has below its peak: the
// benchmark's load generator keeps 16 requests outstanding, so 8 of them
// wait about one request's time, 20 to 80 ms as the machine's speed
// varies, hence a wait bound of 100 ms. Under overload the queue turns
// newest first, so the admitted requests have hardly waited, and the
// refused ones are pushed out by newer ones, or refused once newer ones
// have been served ahead of them for half the bound: a refusal under
// overload comes within about 50 ms, under the 100 ms a shed request may
// take. A
// shop with more cores or replicas sizes the bound as its peak rate times
// the answer time it accepts (docs/benchmarks.md).
var DefaultAdmission = admission.Config{MaxInFlight: 8, MaxQueue: 16, MaxWait: 100 * time.Millisecond}

// DefaultUserAdmission bounds the API requests of one user at once
// (-per-user-max-in-flight, -per-user-max-queue, -per-user-max-wait):
// without it one user's flood would hold every slot of DefaultAdmission
// and shut the other users out. 4 at once, half the gateway's slots, is
// what the order service admits of one buyer (their payments wait for
// the same account row anyway). 4 more may wait for that user's own
// earlier requests, up to a second, so a browser's 6 connections to one
// host, or a client's 8 cancellations while billing is down and each
// takes a few hundred milliseconds to answer 503, are queued rather than
// refused. Beyond them a request is refused at once, before any upstream
// call, so a refusal costs the gateway only; under a flood the queue is
// full and turns newest first, so the refused ones are pushed out within
// milliseconds, not after the second.
var DefaultUserAdmission = admission.Config{MaxInFlight: 4, MaxQueue: 4, MaxWait: time.Second}

// admitted is the gateway's admission control: requests of the API
// (/v1/...) beyond its bounds get 429 with Retry-After at once, before any
// upstream call. Probes, the documents and the key set are never shed:
// they call no service, and refusing /readyz under load would take the
// replica out of the load balancer.
type admitted struct {
	lim *admission.Limiter
	// perUser bounds each user's requests apart (keyed by the verified
	// token's subject), before they take one of lim's slots.
	perUser *admission.Keyed
	shed    *prometheus.CounterVec
}

// The limit label of kassa_gateway_shed_total.
const (
	limitGateway = "gateway" // the bound of all API requests
	limitUser    = "user"    // the bound of one user's
)

func newAdmitted(cfg, perUser admission.Config, reg prometheus.Registerer) (*admitted, error) {
	if cfg.What == "" {
		cfg.What = "the gateway"
	}
	if perUser.What == "" {
		perUser.What = "this user's requests"
	}
	a := &admitted{lim: admission.New(cfg), perUser: admission.NewKeyed(perUser), shed: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kassa", Subsystem: "gateway", Name: "shed_total",
		Help: "API requests the gateway refused unstarted for overload (429, reason OVERLOADED), by route, limit (gateway: all requests; user: one user's) and cause (queue_full, wait, deadline).",
	}, []string{"route", "limit", "cause"})}
	if reg == nil {
		return a, nil
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "kassa", Subsystem: "gateway", Name: "in_flight",
		Help: "API requests the gateway's admission control has admitted and that are not finished.",
	}, func() float64 { return float64(a.lim.InFlight()) })
	for _, c := range []prometheus.Collector{a.shed, inFlight} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, err
			}
			// A second gateway in the process (tests): count in the first's.
			if existing, ok := dup.ExistingCollector.(*prometheus.CounterVec); ok {
				a.shed = existing
			}
		}
	}
	return a, nil
}

// acquire admits a request of user ("" when it has no user token): first
// within the user's own bound, then within the gateway's. limit names the
// bound that refused it.
func (a *admitted) acquire(ctx context.Context, user string) (release func(), limit string, err error) {
	// Services' tokens are the platform's own callers, bounded by the
	// services they call; only customers' are bounded one by one.
	if user == "" || strings.HasPrefix(user, serviceSubjectPrefix) {
		release, err = a.lim.Acquire(ctx)
		return release, limitGateway, err
	}
	mine, err := a.perUser.Acquire(ctx, user)
	if err != nil {
		return nil, limitUser, err
	}
	all, err := a.lim.Acquire(ctx)
	if err != nil {
		mine()
		return nil, limitGateway, err
	}
	return func() { all(); mine() }, "", nil
}

// admit is the mux middleware that admits each API request; it runs
// after recordRoute, so a shed request is logged and measured under its
// route.
func (g *Gateway) admit(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next(w, r, params)
			return
		}
		ctx := r.Context()
		if d, ok := grpcTimeout(r.Header.Get("Grpc-Timeout")); ok {
			// The client's own deadline, which the upstream call will have
			// too: a request that cannot get a slot in time is shed now.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		var user string
		if info := infoFrom(ctx); info != nil {
			user = info.subject
		}
		release, limit, err := g.admission.acquire(ctx, user)
		if err != nil {
			route := routeOf(r)
			if cause := admission.CauseOf(err); cause != "" {
				g.admission.shed.WithLabelValues(route, limit, string(cause)).Inc()
			}
			_, out := runtime.MarshalerForRequest(g.mux, r)
			runtime.HTTPError(r.Context(), g.mux, out, w, r, grpcstatus.ToStatus(r.Context(), g.log, route, err))
			return
		}
		defer release()
		next(w, r, params)
	}
}

// grpcTimeout reads a Grpc-Timeout header (gRPC over HTTP/2: at most eight
// digits and a unit, H M S m u n), which grpc-gateway honours as the
// upstream call's deadline.
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit, ok := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second,
		'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if !ok {
		return 0, false
	}
	return time.Duration(n) * unit, true
}
