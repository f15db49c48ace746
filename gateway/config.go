package gateway

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/admission/admissionflag"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/process"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config is the gateway's configuration. Every field but Registerer is a
// flag with an environment variable fallback (ParseConfig); the flag wins.
type Config struct {
	Listen           string        // -listen, LISTEN_ADDR: public HTTP address
	AdminListen      string        // -admin-listen, ADMIN_ADDR: /metrics and /healthz; empty disables
	UserAddr         string        // -user-addr, USER_ADDR
	BillingAddr      string        // -billing-addr, BILLING_ADDR
	OrderAddr        string        // -order-addr, ORDER_ADDR
	NotificationAddr string        // -notification-addr, NOTIFICATION_ADDR
	CallTimeout      time.Duration // -call-timeout, CALL_TIMEOUT: upper bound of every upstream call
	MaxBodyBytes     int64         // -max-body-bytes, MAX_BODY_BYTES
	RetryAfter       time.Duration // -retry-after, RETRY_AFTER: Retry-After of every 503 (whole seconds, rounded up); 0 means the default
	// Admission bounds the API requests forwarded at once (-max-in-flight,
	// -max-queue, -max-wait; see DefaultAdmission); the zero value sets
	// no bound.
	Admission admission.Config
	// UserAdmission bounds one user's API requests at once
	// (-per-user-max-in-flight, -per-user-max-queue, -per-user-max-wait;
	// see DefaultUserAdmission); the zero value sets no bound.
	UserAdmission admission.Config
	// Process is what the services have too: -log-level, -log-format,
	// -pprof and -shutdown-timeout (see process.Config).
	Process process.Config

	// Version is the build's version (cmd/gateway's, set at link time),
	// served as info.version of /openapi.json; empty keeps the committed
	// document's "unreleased".
	Version string

	// Rate limits (PerSecond 0: off). -rate-per-address[-burst],
	// RATE_PER_ADDRESS[_BURST]: every client address; -rate-per-user[-burst]:
	// every token subject; -rate-auth-per-address[-burst]: /v1/auth/* per
	// address, on top of the address limit.
	RateAddress, RateUser, RateAuthAddress RateLimit
	RateIdle                               time.Duration  // -rate-idle, RATE_IDLE: a bucket unused this long is dropped
	TrustedProxies                         []netip.Prefix // -trusted-proxies, TRUSTED_PROXIES: peers whose X-Forwarded-For is believed

	// JWKSSourceURL (-jwks-source-url, JWKS_SOURCE_URL) is where the
	// gateway fetches the key set it serves at /.well-known/jwks.json: the
	// user service's admin listener. Empty: the route answers 404.
	JWKSSourceURL string
	// AuthIssuer (-auth-issuer, AUTH_ISSUER) is the tokens' iss, the
	// gateway's public URL, from which /.well-known/openid-configuration
	// is built. Empty: that route answers 404.
	AuthIssuer string
	// Auth is whom the gateway trusts when it verifies a bearer token to
	// pick the per-user rate-limit bucket: the platform's shared -auth-*
	// verifying flags (-auth-audience, -auth-jwks-url, -auth-external-*),
	// with Issuer taken from AuthIssuer. cmd/gateway builds an
	// auth.Verifier from it and sets Subject.
	Auth auth.Config

	// Subject names the user of a bearer token for the per-user limit; nil
	// reads the token's sub claim without verifying it (see ratelimit.go).
	Subject SubjectFunc
	// Clock is the rate limiters' time; nil is time.Now.
	Clock func() time.Time

	// Registerer receives the gateway's HTTP metrics; nil keeps them
	// unregistered (tests build many gateways in one process), unless
	// Telemetry is set: then they go to its registry.
	Registerer prometheus.Registerer
	// Draining is closed when the process begins to shut down (SIGTERM);
	// from then on /readyz answers 503. Nil: never.
	Draining <-chan struct{}
	// Telemetry, when set, traces every API request (continuing a client's
	// W3C traceparent) and every upstream call, and measures the upstream
	// calls (grpc_client_*). Nil: no tracing.
	Telemetry *telemetry.Telemetry
	// Upstreams are in-process connections to the services by name
	// ("user", ...; rpcserver.Server.Channel), used instead of dialing
	// that service's address: the all-in-one process. When it is set,
	// Validate does not ask for the addresses. The gateway adds to
	// them what its dialed connections have (its upstream interceptor,
	// deadline, metrics).
	Upstreams map[string]grpc.ClientConnInterface
}

// Defaults of the settings; the addresses are the ports of `make run`.
const (
	DefaultListen       = ":8080"
	DefaultAdminListen  = ":9100"
	DefaultCallTimeout  = 10 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	DefaultRetryAfter   = time.Second
	DefaultRateIdle     = 10 * time.Minute
	DefaultJWKSSource   = "http://localhost:9101/.well-known/jwks.json"
	DefaultAuthIssuer   = "http://localhost:8080"
)

// Default rate limits. One address must be able to run the benchmark and
// the e2e suite (hundreds of requests per second) and one user 40
// concurrent orders, each a few calls; /v1/auth/* is for logging in, which
// a person or a service does a few times an hour, so its address limit is
// low enough that guessing passwords does not scale.
var (
	DefaultRateAddress     = RateLimit{PerSecond: 500, Burst: 1000}
	DefaultRateUser        = RateLimit{PerSecond: 200, Burst: 400}
	DefaultRateAuthAddress = RateLimit{PerSecond: 10, Burst: 20}
)

// ParseConfig reads the flags in args (without the program name), falling
// back to the environment through getenv. Usage and flag errors go to out.
// It returns flag.ErrHelp for -h.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	load := Declare(fs, getenv, true)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return load()
}

// Declare declares the gateway's settings on fs, each defaulting to its
// environment variable read through getenv, and returns the function that
// reads and checks them once fs is parsed. upstreamAddrs declares the
// services' addresses (-user-addr, ...); a process that gives the gateway
// in-process connections (Config.Upstreams) has none.
func Declare(fs *flag.FlagSet, getenv func(string) string, upstreamAddrs bool) (load func() (Config, error)) {
	env := func(envVar, def string) string { return process.EnvOr(getenv, envVar, def) }
	var c Config
	fs.StringVar(&c.Listen, "listen", env("LISTEN_ADDR", DefaultListen), "public HTTP listen address (env LISTEN_ADDR)")
	fs.StringVar(&c.AdminListen, "admin-listen", env("ADMIN_ADDR", DefaultAdminListen), "admin HTTP listen address for /metrics and /healthz; empty disables (env ADMIN_ADDR)")
	upstreams := []struct {
		name, def string
		dst       *string
	}{
		{"user", "localhost:50051", &c.UserAddr},
		{"billing", "localhost:50052", &c.BillingAddr},
		{"order", "localhost:50053", &c.OrderAddr},
		{"notification", "localhost:50054", &c.NotificationAddr},
	}
	if !upstreamAddrs {
		// To be filled by the caller before New.
		c.Upstreams = map[string]grpc.ClientConnInterface{}
	}
	for _, u := range upstreams {
		if !upstreamAddrs {
			break
		}
		name := u.name + "-addr"
		envVar := process.EnvName(name)
		fs.StringVar(u.dst, name, env(envVar, u.def), fmt.Sprintf("gRPC address of the %s service (env %s)", u.name, envVar))
	}
	callTimeout := fs.String("call-timeout", env("CALL_TIMEOUT", DefaultCallTimeout.String()), "deadline of every upstream call; a shorter Grpc-Timeout header from the client wins (env CALL_TIMEOUT)")
	maxBody := fs.String("max-body-bytes", env("MAX_BODY_BYTES", strconv.Itoa(DefaultMaxBodyBytes)), "largest accepted request body; larger ones get 413 (env MAX_BODY_BYTES)")
	retryAfter := fs.String("retry-after", env("RETRY_AFTER", DefaultRetryAfter.String()), "Retry-After of every 503 answer, rounded up to whole seconds (env RETRY_AFTER)")
	c.Process.RegisterFlags(fs, getenv, "requests")
	loadAdmission := admissionflag.RegisterFlags(fs, getenv, "", "API requests", DefaultAdmission)
	loadUserAdmission := admissionflag.RegisterFlags(fs, getenv, "per-user-", "API requests of one user", DefaultUserAdmission)
	rates := []*rateFlags{
		{name: "rate-per-address", def: DefaultRateAddress, dst: &c.RateAddress},
		{name: "rate-per-user", def: DefaultRateUser, dst: &c.RateUser},
		{name: "rate-auth-per-address", def: DefaultRateAuthAddress, dst: &c.RateAuthAddress},
	}
	what := map[string]string{
		"rate-per-address":      "requests per second from one client address",
		"rate-per-user":         "requests per second with the token of one user or service",
		"rate-auth-per-address": "requests per second to /v1/auth/* from one client address",
	}
	for _, rf := range rates {
		rf.perSecond = fs.String(rf.name, env(process.EnvName(rf.name), strconv.FormatFloat(rf.def.PerSecond, 'f', -1, 64)),
			fmt.Sprintf("%s; 0 disables (env %s)", what[rf.name], process.EnvName(rf.name)))
		rf.burst = fs.String(rf.name+"-burst", env(process.EnvName(rf.name+"-burst"), strconv.Itoa(rf.def.Burst)),
			fmt.Sprintf("how many of those may come at once (env %s)", process.EnvName(rf.name+"-burst")))
	}
	rateIdle := fs.String("rate-idle", env("RATE_IDLE", DefaultRateIdle.String()), "drop a rate-limit bucket unused for this long (env RATE_IDLE)")
	trusted := fs.String("trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For names the client; empty trusts none (env TRUSTED_PROXIES)")
	fs.StringVar(&c.JWKSSourceURL, "jwks-source-url", env("JWKS_SOURCE_URL", DefaultJWKSSource), "where to fetch the public key set served at /.well-known/jwks.json: the user service's admin listener (env JWKS_SOURCE_URL)")
	fs.StringVar(&c.AuthIssuer, "auth-issuer", env("AUTH_ISSUER", DefaultAuthIssuer), "the tokens' issuer, the gateway's public URL, for /.well-known/openid-configuration (env AUTH_ISSUER)")
	// The verifying settings are declared by the platform, so their names,
	// defaults and environment variables are the services' own; the
	// caller-side ones (-auth-client-*) mean nothing to the gateway, and
	// -auth-issuer is declared above because it also feeds the discovery
	// document.
	authFlags := flag.NewFlagSet("auth", flag.ContinueOnError)
	c.Auth.RegisterFlags(authFlags, getenv, "gateway")
	authFlags.VisitAll(func(f *flag.Flag) {
		if f.Name != "auth-issuer" && !strings.HasPrefix(f.Name, "auth-client-") {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	return func() (Config, error) {
		if err := c.load(callTimeout, maxBody, retryAfter, rateIdle, trusted, rates); err != nil {
			return c, err
		}
		var err error
		if c.Admission, err = loadAdmission(); err != nil {
			return c, err
		}
		c.UserAdmission, err = loadUserAdmission()
		return c, err
	}
}

// rateFlags are the flags of one rate limit.
type rateFlags struct {
	name      string
	def       RateLimit
	dst       *RateLimit
	perSecond *string
	burst     *string
}

// load reads the parsed settings into c and checks them.
func (c *Config) load(callTimeout, maxBody, retryAfter, rateIdle, trusted *string, rates []*rateFlags) error {
	if err := c.Process.Load(); err != nil {
		return err
	}
	var err error
	if c.CallTimeout, err = time.ParseDuration(*callTimeout); err != nil || c.CallTimeout <= 0 {
		return fmt.Errorf("call-timeout (CALL_TIMEOUT): want a positive duration such as 10s, got %q", *callTimeout)
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(*maxBody, 10, 64); err != nil || c.MaxBodyBytes <= 0 {
		return fmt.Errorf("max-body-bytes (MAX_BODY_BYTES): want a positive number of bytes, got %q", *maxBody)
	}
	if c.RetryAfter, err = time.ParseDuration(*retryAfter); err != nil || c.RetryAfter <= 0 {
		return fmt.Errorf("retry-after (RETRY_AFTER): want a positive duration such as 1s, got %q", *retryAfter)
	}
	for _, rf := range rates {
		if rf.dst.PerSecond, err = strconv.ParseFloat(*rf.perSecond, 64); err != nil || rf.dst.PerSecond < 0 || math.IsInf(rf.dst.PerSecond, 0) {
			return fmt.Errorf("%s (%s): want a number of requests per second, 0 to disable, got %q", rf.name, process.EnvName(rf.name), *rf.perSecond)
		}
		if rf.dst.Burst, err = strconv.Atoi(*rf.burst); err != nil {
			return fmt.Errorf("%s-burst (%s): want a whole number, got %q", rf.name, process.EnvName(rf.name+"-burst"), *rf.burst)
		}
	}
	if c.RateIdle, err = time.ParseDuration(*rateIdle); err != nil || c.RateIdle <= 0 {
		return fmt.Errorf("rate-idle (RATE_IDLE): want a positive duration such as 10m, got %q", *rateIdle)
	}
	for _, s := range strings.Split(*trusted, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, perr := netip.ParsePrefix(s)
		if perr != nil {
			ip, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return fmt.Errorf("trusted-proxies (TRUSTED_PROXIES): want CIDRs such as 10.0.0.0/8, got %q", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if c.Auth.Issuer = c.AuthIssuer; c.AuthIssuer != "" {
		if err := c.Auth.Load(); err != nil {
			return err
		}
	}
	return c.Validate()
}

// Validate reports the first setting that cannot work, naming its flag and
// environment variable.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("listen (LISTEN_ADDR) is required, e.g. :8080")
	}
	for _, a := range []struct{ name, val string }{
		{"user", c.UserAddr}, {"billing", c.BillingAddr}, {"order", c.OrderAddr}, {"notification", c.NotificationAddr},
	} {
		if c.Upstreams == nil && a.val == "" {
			return fmt.Errorf("%s-addr (%s) is required", a.name, process.EnvName(a.name+"-addr"))
		}
	}
	if c.CallTimeout <= 0 {
		return fmt.Errorf("call-timeout (CALL_TIMEOUT): want a positive duration, got %v", c.CallTimeout)
	}
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("max-body-bytes (MAX_BODY_BYTES): want a positive number of bytes, got %d", c.MaxBodyBytes)
	}
	if c.RetryAfter < 0 {
		return fmt.Errorf("retry-after (RETRY_AFTER): want a positive duration, got %v", c.RetryAfter)
	}
	for _, r := range []struct {
		name string
		l    RateLimit
	}{{"rate-per-address", c.RateAddress}, {"rate-per-user", c.RateUser}, {"rate-auth-per-address", c.RateAuthAddress}} {
		if r.l.PerSecond < 0 {
			return fmt.Errorf("%s (%s): want 0 (off) or more requests per second, got %v", r.name, process.EnvName(r.name), r.l.PerSecond)
		}
		if r.l.PerSecond > 0 && r.l.Burst < 1 {
			return fmt.Errorf("%s-burst (%s): want at least 1 while %s is on, got %d", r.name, process.EnvName(r.name+"-burst"), r.name, r.l.Burst)
		}
	}
	for _, u := range []struct{ name, val string }{{"jwks-source-url", c.JWKSSourceURL}, {"auth-issuer", c.AuthIssuer}} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s (%s): want an http or https URL, got %q", u.name, process.EnvName(u.name), u.val)
		}
	}
	if c.RateIdle < 0 {
		return fmt.Errorf("rate-idle (RATE_IDLE): want a positive duration, got %v", c.RateIdle)
	}
	if err := c.Admission.Validate(); err != nil {
		return fmt.Errorf("max-in-flight, max-queue, max-wait: %w", err)
	}
	if err := c.UserAdmission.Validate(); err != nil {
		return fmt.Errorf("per-user-max-in-flight, per-user-max-queue, per-user-max-wait: %w", err)
	}
	return c.Process.Validate()
}
