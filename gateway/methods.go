package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// probedMethods are the methods a route can be registered for. HEAD is not
// among them: no route registers it, serve answers it as GET.
var probedMethods = []string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// probeKey marks a request that only asks the mux whether a route
// matches; probe carries the answer out.
type probeKey struct{}

type probe struct{ matched bool }

func probeFrom(ctx context.Context) *probe {
	p, _ := ctx.Value(probeKey{}).(*probe)
	return p
}

// allowedMethods returns the methods the mux routes for r's path, in the
// order of probedMethods, with HEAD after GET. It asks the mux itself,
// one request per method that stops in probeRoute before any handler
// runs, so the answer holds for every route however it was registered
// (the generated API handlers, HandlePath) and cannot drift from them.
// Only a 405 pays for it.
func (g *Gateway) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range probedMethods {
		p := &probe{}
		req := r.Clone(context.WithValue(r.Context(), probeKey{}, p))
		req.Method = m
		// No header or body the mux might act on: the probe is about the
		// path alone.
		req.Header = http.Header{}
		req.Body, req.ContentLength = http.NoBody, 0
		g.mux.ServeHTTP(discardWriter{}, req)
		if p.matched {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// probeRoute is the outermost mux middleware: a probe request ends here,
// noting that a route matched, so no handler, log line or metric sees it.
func probeRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p := probeFrom(r.Context()); p != nil {
			p.matched = true
			return
		}
		next(w, r, params)
	}
}

// discardWriter swallows whatever the mux writes for a probe (nothing, as
// the error handlers return early for probes).
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// handleRoutingError keeps grpc-gateway's 404 and 400 for routing errors
// but answers 405 for a known path with another method, with the Allow
// header RFC 9110 (section 15.5.6) requires: the default maps a wrong
// method to UNIMPLEMENTED and so to 501, which would tell clients the
// server lacks a feature rather than that they used the wrong method.
func (g *Gateway) handleRoutingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if probeFrom(r.Context()) != nil {
		return // this method has no route for the path
	}
	if httpStatus == http.StatusMethodNotAllowed {
		method := r.Method
		if info := infoFrom(r.Context()); info != nil && info.method != "" {
			method = info.method // HEAD, served as GET
		}
		w.Header().Set("Allow", strings.Join(g.allowedMethods(r), ", "))
		runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusMethodNotAllowed,
			Err:        status.Errorf(codes.Unimplemented, "method %s is not allowed on %s", method, r.URL.Path),
		})
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// asGet turns a HEAD request into the GET it stands for (RFC 9110,
// section 9.3.2: the same answer without content). The HTTP server drops
// the body of a response to HEAD, so the handlers need not know.
func asGet(r *http.Request) *http.Request {
	if r.Method != http.MethodHead {
		return r
	}
	if info := infoFrom(r.Context()); info != nil {
		info.method = r.Method
	}
	get := r.Clone(r.Context())
	get.Method = http.MethodGet
	return get
}

// isBodyMethod reports whether requests of method carry a request message
// in their body on kassa's routes (those of http.yaml with a body: every
// POST and PATCH).
func isBodyMethod(method string) bool {
	return slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodPatch}, method)
}
