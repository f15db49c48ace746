package gateway

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusByReason is where an error's HTTP status differs from
// grpc-gateway's mapping of its gRPC code: the kassa.dev ErrorInfo reason
// tells apart what one code cannot. Every other error keeps the default
// (runtime.HTTPStatusFromCode); the table in README.md lists both.
var statusByReason = map[string]int{
	// The key was used before for a different request (IETF
	// Idempotency-Key draft, section 2.7): the request is well formed but
	// cannot be processed under this key. The service's code is
	// ALREADY_EXISTS or similar, whose default 409 would read as a
	// conflict that may pass.
	apperr.ReasonRequestIDReused: http.StatusUnprocessableEntity,
	// A request with the same key is still running (the draft's 409). The
	// services wait for the first request instead of answering this; the
	// row is here so that changing that needs no gateway change.
	"IDEMPOTENCY_KEY_IN_USE": http.StatusConflict,
	// A partial refund the order cannot take in its state (more than
	// remains unrefunded, a declined order, a refund billing refused):
	// FAILED_PRECONDITION, whose default 400 would read as a malformed
	// request, when the request is fine and the order's state is in the
	// way, as for a conflict.
	"REFUND_EXCEEDS_REMAINING": http.StatusConflict,
	"ORDER_NOT_PAID":           http.StatusConflict,
	"REFUND_REFUSED":           http.StatusConflict,
}

// errBodyTooLarge stands for the 413 answer; handleError replaces it.
var errBodyTooLarge = errors.New("request body too large")

// handleError is the gateway's only error handler: grpc-gateway's default
// (google.rpc.Status JSON, HTTP status from the gRPC code) with the
// statuses of statusByReason, the 413 of the body limit, Retry-After on
// every 503 and 429, and a Bearer challenge on every 401.
func (g *Gateway) handleError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if probeFrom(r.Context()) != nil {
		return // a malformed path while probing for Allow; the real request answers it
	}
	info := infoFrom(r.Context())
	var withHTTP *runtime.HTTPStatusError
	switch {
	case info != nil && info.bodyTooLarge.Load():
		// INVALID_ARGUMENT rather than RESOURCE_EXHAUSTED: the request is
		// wrong as sent and retrying it cannot help (RESOURCE_EXHAUSTED
		// reads as a quota that may recover). The HTTP status says 413.
		err = &runtime.HTTPStatusError{
			HTTPStatus: http.StatusRequestEntityTooLarge,
			Err:        status.Errorf(codes.InvalidArgument, "request body larger than %d bytes", g.maxBody),
		}
	case errors.As(err, &withHTTP): // made by the gateway with its status
	default:
		if code, ok := statusByReason[grpcstatus.ReasonOf(err)]; ok {
			err = &runtime.HTTPStatusError{HTTPStatus: code, Err: err}
		}
	}
	if info != nil {
		info.err = err
	}
	code := runtime.HTTPStatusFromCode(status.Code(err))
	if errors.As(err, &withHTTP) {
		code = withHTTP.HTTPStatus
	}
	switch code {
	case http.StatusServiceUnavailable:
		// Every 503 is worth retrying, by definition of UNAVAILABLE; say when.
		w.Header().Set("Retry-After", g.retryAfter)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", g.retryAfterOf(status.Convert(err)))
	case http.StatusUnauthorized:
		// grpc-gateway's default puts the status message into
		// WWW-Authenticate, which is no challenge a client can parse;
		// the wrapper sets ours after it.
		w = &challengeWriter{ResponseWriter: w, challenge: bearerChallenge(r)}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// challengeWriter sets WWW-Authenticate just before the status line.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (c *challengeWriter) WriteHeader(code int) {
	c.Header().Set("WWW-Authenticate", c.challenge)
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// bearerChallenge is the WWW-Authenticate of a 401 (RFC 6750, section 3).
// A request without credentials gets the bare challenge; one whose token
// was refused also gets error="invalid_token", so a client knows to log in
// again or refresh rather than that it forgot the header. The reason stays
// out: the services' messages say what a client may know.
func bearerChallenge(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return `Bearer realm="kassa", error="invalid_token"`
	}
	return `Bearer realm="kassa"`
}

// retryAfterKey is the ErrorInfo metadata key in which a service says how
// many seconds a RESOURCE_EXHAUSTED lasts (a login lock's remaining delay).
const retryAfterKey = "retry_after_seconds"

// retryAfterOf returns the Retry-After of a 429: the service's own hint (a
// kassa.dev ErrorInfo retry_after_seconds, or a google.rpc.RetryInfo),
// else the gateway's default. A hint is rounded up to whole seconds and is
// at least 1, so a client never retries at once into the same refusal.
func (g *Gateway) retryAfterOf(st *status.Status) string {
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() != apperr.Domain {
				continue
			}
			if v, ok := d.GetMetadata()[retryAfterKey]; ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
					return strconv.FormatInt(n, 10)
				}
			}
		case *errdetails.RetryInfo:
			if delay := d.GetRetryDelay().AsDuration(); delay > 0 {
				return strconv.FormatInt(int64(math.Ceil(delay.Seconds())), 10)
			}
		}
	}
	return g.retryAfter
}
