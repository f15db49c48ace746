package gateway

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// jsonMediaType is the only request body the API reads.
const jsonMediaType = "application/json"

// requireJSON refuses, with 415, a request body that is not JSON on a
// route that reads one (POST, PUT, PATCH), before anything reads it: the
// marshaler would otherwise parse form data or plain text as JSON and
// answer a misleading 400, or, for a body that happens to be JSON, call
// the service with a request the client did not label. It runs after the
// route matched, so an unknown path stays 404 and a wrong method 405.
func (g *Gateway) requireJSON(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if !isBodyMethod(r.Method) {
			next(w, r, params)
			return
		}
		msg, header := checkJSONBody(r)
		if msg == "" {
			next(w, r, params)
			return
		}
		accept := "Accept-Post"
		if r.Method == http.MethodPatch {
			accept = "Accept-Patch" // RFC 5789, section 3.1
		}
		w.Header().Set(accept, jsonMediaType)
		if header != "" {
			w.Header().Set("Accept-Encoding", header)
		}
		_, out := runtime.MarshalerForRequest(g.mux, r)
		runtime.HTTPError(r.Context(), g.mux, out, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusUnsupportedMediaType,
			Err:        status.Error(codes.InvalidArgument, msg),
		})
	}
}

// checkJSONBody returns why r's body is not acceptable JSON, or "" when it
// is, and the Accept-Encoding to answer when the content coding is the
// problem (RFC 9110, section 15.5.16).
//
//   - Content-Type must be application/json; parameters are allowed, but a
//     charset must be utf-8 (RFC 8259 JSON is UTF-8).
//   - Without Content-Type the body must be empty (Content-Length: 0, as
//     curl -X POST sends): such a request is the empty message and the
//     service judges it. A body of unknown length (chunked) without a type
//     is refused, as the gateway cannot tell it is empty without reading.
//   - Content-Encoding other than identity is refused: the gateway does not
//     decompress bodies and would parse the compressed bytes.
func checkJSONBody(r *http.Request) (msg, acceptEncoding string) {
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed", enc), "identity"
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return "", ""
		}
		return "a request body needs Content-Type: " + jsonMediaType, ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("Content-Type %q is malformed: want %s", ct, jsonMediaType), ""
	}
	if mt != jsonMediaType {
		return fmt.Sprintf("Content-Type %s is not supported: send %s", mt, jsonMediaType), ""
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("charset %q is not supported: JSON bodies are utf-8", cs), ""
	}
	return "", ""
}
