package gateway

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// Path and query values reach the request as the URL spells them, bytes
// that are not UTF-8 included; the gRPC library would refuse to marshal
// them and the client would get a 500. They answer as the services answer
// a NUL: 400 naming the field, and no call is made.
func TestPathAndQuery_InvalidUTF8_Answers400NothingCalled(t *testing.T) {
	u := "/v1/users/" + testUserID
	tests := []struct{ name, method, path, field string }{
		{"path", "GET", u + "%FF/account", "user_id"},
		{"second path parameter", "GET", u + "/orders/a%FE", "id"},
		{"query", "GET", u + "/orders?pageToken=%FF", "page_token"},
		{"overlong encoding", "DELETE", "/v1/users/%C0%AF", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			m := wantStatus(t, e.do(t, tt.method, tt.path, nil, nil), http.StatusBadRequest, codes.InvalidArgument)
			if msg, _ := m["message"].(string); !strings.HasPrefix(msg, tt.field+": ") || !strings.Contains(msg, "UTF-8") {
				t.Errorf("message = %q, want it to name %s and UTF-8", msg, tt.field)
			}
			if calls := e.rec.get("method"); len(calls) != 0 {
				t.Errorf("refused request reached %q", calls)
			}
		})
	}
}
