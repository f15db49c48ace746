package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RateLimit is a token bucket: PerSecond requests per second on average,
// up to Burst at once. PerSecond 0 switches the limit off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// SubjectFunc returns the subject of a bearer token (the user id, or
// "service:<name>"), or false when the token is not one it accepts. The
// gateway only uses it to pick a rate-limit bucket; the services decide on
// access themselves.
type SubjectFunc func(ctx context.Context, token string) (string, bool)

// limiters are the gateway's rate limits. A request takes a token from
// each bucket that applies to it (its address; its user, when the token
// names one; its address's bucket for /v1/auth/*) or from none.
type limiters struct {
	address, user, authAddress *bucketTable
	trusted                    []netip.Prefix
	subject                    SubjectFunc
	now                        func() time.Time
}

func newLimiters(cfg Config) *limiters {
	l := &limiters{
		address:     newBucketTable(cfg.RateAddress, cfg.RateIdle),
		user:        newBucketTable(cfg.RateUser, cfg.RateIdle),
		authAddress: newBucketTable(cfg.RateAuthAddress, cfg.RateIdle),
		trusted:     cfg.TrustedProxies,
		subject:     cfg.Subject,
		now:         cfg.Clock,
	}
	if l.subject == nil {
		l.subject = unverifiedSubject
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// check takes r's tokens, or returns the RESOURCE_EXHAUSTED error to
// answer with. A refused request takes no token from any bucket, so a
// client held back by one limit does not drain the others meanwhile.
// subject is the bearer token's subject when check got that far (the
// per-user admission bound keys on it), else "".
func (l *limiters) check(r *http.Request) (subject string, err error) {
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		// Probes: refusing them under load would take the replica out of
		// the load balancer and move the load onto the others.
		return "", nil
	}
	now := l.now()
	addr := l.clientAddress(r)
	type take struct {
		t   *bucketTable
		key string
	}
	var wait time.Duration
	var reserved []*rate.Reservation
	reserve := func(takes ...take) {
		for _, tk := range takes {
			if res := tk.t.reserve(tk.key, now); res != nil { // nil: limit off
				reserved = append(reserved, res)
				wait = max(wait, res.DelayFrom(now))
			}
		}
	}
	refuse := func() error {
		for _, res := range reserved {
			res.CancelAt(now)
		}
		return rateLimited(wait)
	}
	reserve(take{l.address, addr})
	if strings.HasPrefix(r.URL.Path, "/v1/auth/") {
		reserve(take{l.authAddress, addr})
	}
	// The address limits first: a client over them costs no signature
	// check (nor a key-set refresh for an unknown kid).
	if wait > 0 {
		return "", refuse()
	}
	if tok, ok := bearerToken(r); ok {
		if sub, ok := l.subject(r.Context(), tok); ok {
			subject = sub
			reserve(take{l.user, sub})
		}
	}
	if wait > 0 {
		return "", refuse()
	}
	return subject, nil
}

// rateLimited is the 429's error: RESOURCE_EXHAUSTED with reason
// RATE_LIMITED and the wait, which the error handler turns into
// Retry-After.
func rateLimited(wait time.Duration) error {
	secs := strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10)
	st, err := status.New(codes.ResourceExhausted, "too many requests, retry after "+secs+"s").
		WithDetails(&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: apperr.Domain,
			Metadata: map[string]string{retryAfterKey: secs}})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many requests")
	}
	return st.Err()
}

// clientAddress is the bucket key of r's client: the peer's IP, or, when
// the peer is a trusted proxy, the rightmost X-Forwarded-For entry that is
// not one (entries further left were written by the client and could be
// anything). IPv6 clients are keyed by their /64, which one host usually
// has to itself, so it cannot dodge the limit by changing addresses.
func (l *limiters) clientAddress(r *http.Request) string {
	ip := parseIP(r.RemoteAddr)
	if ip.IsValid() && l.isTrusted(ip) {
		hops := r.Header.Values("X-Forwarded-For")
		var all []string
		for _, h := range hops {
			all = append(all, strings.Split(h, ",")...)
		}
		for i := len(all) - 1; i >= 0; i-- {
			hop := parseIP(strings.TrimSpace(all[i]))
			if !hop.IsValid() {
				break // a malformed entry: trust nothing left of it
			}
			ip = hop
			if !l.isTrusted(hop) {
				break
			}
		}
	}
	if !ip.IsValid() {
		return r.RemoteAddr
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

func (l *limiters) isTrusted(ip netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// parseIP reads "host:port" or a bare address; invalid when neither.
func parseIP(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.WithZone("")
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// unverifiedSubject reads the sub claim of a JWT without checking its
// signature. It only picks a bucket: a token that does not parse falls
// back to the address limit, and every service verifies the token before
// acting on it. Its weakness: a forged token can name another user's sub
// and so spend that user's budget; Config.Subject with a verifier closes
// that.
func unverifiedSubject(_ context.Context, token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 4096 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Sub == "" || len(claims.Sub) > 256 {
		return "", false
	}
	return claims.Sub, true
}

// bucketTable holds one token bucket per key. Buckets idle for longer than
// idle are dropped: by then a bucket has refilled completely (idle is at
// least the time to refill Burst), so a new one is the same, and the
// table's size is bounded by the keys seen within idle.
type bucketTable struct {
	limit     rate.Limit
	burst     int
	idle      time.Duration
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newBucketTable(l RateLimit, idle time.Duration) *bucketTable {
	if l.PerSecond <= 0 {
		return nil
	}
	refill := time.Duration(float64(l.Burst) / l.PerSecond * float64(time.Second))
	return &bucketTable{limit: rate.Limit(l.PerSecond), burst: l.Burst,
		idle: max(idle, refill, time.Second), buckets: make(map[string]*bucket)}
}

// reserve takes a token for key at now; nil when the table is off.
func (t *bucketTable) reserve(key string, now time.Time) *rate.Reservation {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= t.idle {
		// At most one sweep per idle period: linear in the table, but
		// amortised over every request of that period.
		for k, b := range t.buckets {
			if now.Sub(b.last) >= t.idle {
				delete(t.buckets, k)
			}
		}
		t.lastSweep = now
	}
	b, ok := t.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(t.limit, t.burst)}
		t.buckets[key] = b
	}
	b.last = now
	return b.lim.ReserveN(now, 1)
}

// size is the number of buckets held, for tests.
func (t *bucketTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}
