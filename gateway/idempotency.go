package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The idempotency key of a mutation may come as the Idempotency-Key header
// or as a top-level requestId member of the JSON body, on every route whose
// request has a request_id field. Where http.yaml maps the body to the whole
// request (`body: "*"`, Deposit and Withdraw) the decoder fills request_id
// itself. Where the body is one field of the request (`body: user`) the key
// is a sibling of that field, so a requestId member would be refused as
// unknown (User) or, worse, land in the output-only
// Order.request_id and be ignored: liftBodyKey takes it out first.

// keyBesideBody lists the routes (method and pattern as in http.yaml) whose
// body is a sub-message while the request's request_id is a sibling of it.
// TestKeyBesideBody_MatchesOpenAPI keeps the list in step with the rules.
var keyBesideBody = map[string]bool{
	"POST /v1/users":                  true,
	"POST /v1/users/{user_id}/orders": true,
}

// idempotencyKey is a key the gateway found outside the request message.
type idempotencyKey struct {
	value  string
	source string // for messages: "the Idempotency-Key header"
}

type idempotencyKeyKey struct{}

const (
	fromHeader = "the Idempotency-Key header"
	fromBody   = "the body's requestId"
)

// idempotencyKeyFrom returns the idempotency key of the HTTP request an
// upstream call serves.
func idempotencyKeyFrom(ctx context.Context) (idempotencyKey, bool) {
	key, ok := ctx.Value(idempotencyKeyKey{}).(idempotencyKey)
	return key, ok
}

// headerKey reads the Idempotency-Key header: at most one, at most
// MaxRequestIDLen characters; an empty header counts as absent.
func headerKey(r *http.Request) (string, error) {
	keys := r.Header.Values(idempotencyKeyHeader)
	switch {
	case len(keys) == 0:
		return "", nil
	case len(keys) > 1:
		return "", status.Error(codes.InvalidArgument, "Idempotency-Key header must be sent once")
	case len(keys[0]) > validate.MaxRequestIDLen:
		return "", status.Errorf(codes.InvalidArgument, "Idempotency-Key header must be at most %d characters", validate.MaxRequestIDLen)
	}
	return keys[0], nil
}

// liftBodyKey is the mux middleware that moves a top-level requestId (or
// request_id) member out of the body on the keyBesideBody routes, so the
// call's request_id gets it. The body was already bounded by the body
// limit; a body that is not a JSON object is passed on unchanged for the
// decoder to report as usual.
func (g *Gateway) liftBodyKey(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if !keyBesideBody[r.Method+" "+routeOf(r)] || r.Body == nil || r.Body == http.NoBody {
			next(w, r, params)
			return
		}
		fail := func(err error) {
			_, out := runtime.MarshalerForRequest(g.mux, r)
			runtime.HTTPError(r.Context(), g.mux, out, w, r, err)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			if info := infoFrom(r.Context()); info != nil && info.bodyTooLarge.Load() {
				fail(errBodyTooLarge)
				return
			}
			fail(status.Errorf(codes.InvalidArgument, "read request body: %v", err))
			return
		}
		rest, bodyKey, err := cutRequestID(b)
		if err != nil {
			fail(err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(rest))
		r.ContentLength = int64(len(rest))
		if bodyKey != "" {
			if key, ok := idempotencyKeyFrom(r.Context()); ok && key.value != bodyKey {
				fail(status.Errorf(codes.InvalidArgument, "%s and %s differ: send the key once, or the same key in both", key.source, fromBody))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), idempotencyKeyKey{}, idempotencyKey{value: bodyKey, source: fromBody}))
		}
		next(w, r, params)
	}
}

// cutRequestID returns body without its top-level requestId/request_id
// member, and that member's value. Every other member is kept byte for
// byte, in order, so the decoder reports the same errors as for the
// original body. A body that is not one well-formed JSON object is
// returned unchanged. Like protojson, it treats null as absent and refuses
// the member given twice (also once under each name).
func cutRequestID(body []byte) (rest []byte, key string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return body, "", nil
	}
	var kept [][]byte
	found := false
	for dec.More() {
		start := dec.InputOffset() // after '{' or after the previous value, before its comma
		tok, err := dec.Token()
		if err != nil {
			return body, "", nil
		}
		name, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return body, "", nil
		}
		member := body[start:dec.InputOffset()]
		if name != "requestId" && name != "request_id" {
			kept = append(kept, bytes.TrimLeft(member, " \t\r\n,"))
			continue
		}
		if found {
			return nil, "", status.Error(codes.InvalidArgument, "requestId is given more than once in the body")
		}
		found = true
		if string(val) == "null" {
			continue
		}
		if !utf8.Valid(val) {
			// encoding/json would turn each bad byte into U+FFFD and so
			// accept, under a key the client never sent, what protojson
			// refuses in every other member.
			return nil, "", status.Errorf(codes.InvalidArgument, "requestId in the body %s", validate.TextRule)
		}
		if err := json.Unmarshal(val, &key); err != nil {
			return nil, "", status.Errorf(codes.InvalidArgument, "requestId in the body must be a string, got %.40s", val)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return body, "", nil
	}
	if !found {
		return body, "", nil
	}
	var out bytes.Buffer
	out.Grow(len(body))
	out.WriteByte('{')
	out.Write(bytes.Join(kept, []byte{','}))
	out.WriteByte('}')
	out.Write(body[dec.InputOffset():]) // whatever followed the object: the decoder's to judge
	return out.Bytes(), key, nil
}

// applyIdempotencyKey copies the request's idempotency key (header or
// lifted body member) into the top-level string field request_id of req,
// the services' idempotency key (AIP-155). A request_id the decoder already
// set (the body of a `body: "*"` route, or ?requestId=) must equal it.
// Requests without such a field ignore the key.
func applyIdempotencyKey(ctx context.Context, req any) error {
	key, ok := idempotencyKeyFrom(ctx)
	if !ok {
		return nil
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("request_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	switch current := m.Get(fd).String(); current {
	case "":
		m.Set(fd, protoreflect.ValueOfString(key.value))
	case key.value:
	default:
		return status.Error(codes.InvalidArgument, fmt.Sprintf("%s and requestId differ: send the key once, or the same key in both", key.source))
	}
	return nil
}
