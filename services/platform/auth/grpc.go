package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrorInfo reasons (domain kassa.dev) of refused calls. The gateway turns
// UNAUTHENTICATED into 401 with WWW-Authenticate: Bearer, adding
// error="invalid_token" for ReasonInvalidToken.
const (
	ReasonUnauthenticated  = "UNAUTHENTICATED" // no token
	ReasonInvalidToken     = "INVALID_TOKEN"   // a token that did not verify
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

// Guard checks every call against the method's rule: it verifies the
// bearer token unless the rule is Public and puts the Principal in the
// context.
type Guard struct {
	Verifier *Verifier
	// Rules maps a full method name ("/kassa.billing.v1.BillingService/
	// Withdraw") to its rule. A method missing from it is refused.
	Rules map[string]Rule
	Log   *slog.Logger
}

// alwaysPublic are the services every caller may use without a token:
// probes (kubelet, load balancers) carry none, and reflection describes
// only the public contract.
var alwaysPublic = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func (g Guard) rule(method string) (Rule, bool) {
	for _, p := range alwaysPublic {
		if strings.HasPrefix(method, p) {
			return Public, true
		}
	}
	r, ok := g.Rules[method]
	return r, ok
}

// UnaryServerInterceptor returns the unary interceptor enforcing g.
func (g Guard) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return grpcauth.UnaryServerInterceptor(g.authenticate)
}

// StreamServerInterceptor returns the stream interceptor enforcing g.
func (g Guard) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return grpcauth.StreamServerInterceptor(g.authenticate)
}

func (g Guard) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	rule, ok := g.rule(method)
	if !ok {
		g.log().WarnContext(ctx, "call refused: no access rule for method", "method", method)
		return nil, denied("permission denied")
	}
	if rule.IsPublic() {
		return ctx, nil
	}
	token, err := bearer(ctx)
	if err == nil {
		var p Principal
		if p, err = g.Verifier.Verify(ctx, token); err == nil {
			if !rule.Allows(p) {
				g.log().InfoContext(ctx, "call refused: rule not met", "method", method, "principal", p.String(), "rule", rule.String())
				return nil, denied("permission denied")
			}
			return WithPrincipal(ctx, p), nil
		}
	}
	if errors.Is(err, ErrKeysUnavailable) {
		g.log().WarnContext(ctx, "call refused: issuer keys unavailable", "method", method, "error", err)
		return nil, withInfo(codes.Unavailable, "the identity provider is unavailable, retry later", apperr.ReasonUnavailable)
	}
	reason := ReasonOf(err)
	g.log().InfoContext(ctx, "call refused: token", "method", method, "reason", string(reason), "error", err)
	if reason == ReasonMissing {
		return nil, withInfo(codes.Unauthenticated, PublicMessage, ReasonUnauthenticated)
	}
	return nil, withInfo(codes.Unauthenticated, PublicMessage, ReasonInvalidToken)
}

func (g Guard) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// bearer reads "authorization: Bearer <token>". No header is
// ReasonMissing; a header of another shape is ReasonMalformed.
func bearer(ctx context.Context) (string, error) {
	if len(metadata.ValueFromIncomingContext(ctx, "authorization")) == 0 {
		return "", invalid(ReasonMissing, nil)
	}
	tok, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil || tok == "" {
		return "", invalid(ReasonMalformed, errors.New("authorization is not a Bearer token"))
	}
	return tok, nil
}

func denied(msg string) error { return Denied(msg) }

// Denied is PERMISSION_DENIED with the reason the access checks use, for a
// handler that refuses a caller its rule let in (a field only one service
// may set, say), so clients handle both refusals alike.
func Denied(msg string) error { return withInfo(codes.PermissionDenied, msg, ReasonPermissionDenied) }

func withInfo(code codes.Code, msg, reason string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: apperr.Domain}); err == nil {
		st = d
	}
	return st.Err()
}

// CheckRules reports every method of descs that has no rule, and every
// rule naming a method none of descs has (a typo or a removed RPC). A
// service's test calls it so a new RPC cannot ship without a rule.
func CheckRules(descs []*grpc.ServiceDesc, rules map[string]Rule) error {
	have := make(map[string][]string, len(descs))
	for _, d := range descs {
		var methods []string
		for _, m := range d.Methods {
			methods = append(methods, m.MethodName)
		}
		for _, s := range d.Streams {
			methods = append(methods, s.StreamName)
		}
		have[d.ServiceName] = methods
	}
	return checkRules(have, rules)
}

// CheckServer is CheckRules over the services registered on s (health
// and reflection need no rule).
func CheckServer(s *grpc.Server, rules map[string]Rule) error {
	have := make(map[string][]string)
	for name, info := range s.GetServiceInfo() {
		if name == "grpc.health.v1.Health" || strings.HasPrefix(name, "grpc.reflection.") {
			continue
		}
		for _, m := range info.Methods {
			have[name] = append(have[name], m.Name)
		}
	}
	return checkRules(have, rules)
}

func checkRules(have map[string][]string, rules map[string]Rule) error {
	var missing, stale []string
	known := make(map[string]bool)
	for svc, methods := range have {
		for _, m := range methods {
			full := "/" + svc + "/" + m
			known[full] = true
			if _, ok := rules[full]; !ok {
				missing = append(missing, full)
			}
		}
	}
	for full := range rules {
		if !known[full] {
			stale = append(stale, full)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("methods without an access rule: %s", strings.Join(missing, ", ")))
	}
	if len(stale) > 0 {
		errs = append(errs, fmt.Errorf("access rules for unknown methods: %s", strings.Join(stale, ", ")))
	}
	return errors.Join(errs...)
}
