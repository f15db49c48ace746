package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain is the google.rpc.ErrorInfo domain of kassa's errors.
const errorDomain = "kassa.dev"

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
	"REQUEST_ID_REUSED": http.StatusUnprocessableEntity,
	// A request with the same key is still running (the draft's 409). The
	// services wait for the first request instead of answering this; the
	// row is here so that changing that needs no gateway change.
	"IDEMPOTENCY_KEY_IN_USE": http.StatusConflict,
}

// errBodyTooLarge stands for the 413 answer; handleError replaces it.
var errBodyTooLarge = errors.New("request body too large")

// reasonOf returns the kassa.dev ErrorInfo reason of st, or "".
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// handleError is the gateway's only error handler: grpc-gateway's default
// (google.rpc.Status JSON, HTTP status from the gRPC code) with the
// statuses of statusByReason, the 413 of the body limit, and Retry-After
// on every 503.
func (g *Gateway) handleError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
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
		if code, ok := statusByReason[reasonOf(status.Convert(err))]; ok {
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
	if code == http.StatusServiceUnavailable {
		// Every 503 is worth retrying, by definition of UNAVAILABLE; say when.
		w.Header().Set("Retry-After", g.retryAfter)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// handleRoutingError keeps grpc-gateway's 404 and 400 for routing errors
// but answers 405 for a known path with another method: the default maps
// that to UNIMPLEMENTED and so to 501, which would tell clients the server
// lacks a feature rather than that they used the wrong method.
func handleRoutingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        status.Errorf(codes.Unimplemented, "method %s is not allowed on %s", r.Method, r.URL.Path),
		})
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}
