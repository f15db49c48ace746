package gateway

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
)

// Fields only the order service sets are refused from the public API:
// they would let a client write into the order service's idempotency
// namespace in billing and notification.
func TestServerOwnedOrderID_Refused_NothingCalled(t *testing.T) {
	u := "/v1/users/" + testUserID
	const orderID = "5d0c4a7e-8f1b-4c2a-9e3d-7a6b5c4d3e2f"
	tests := []struct {
		name, path, body, field string
	}{
		{"withdraw orderId", u + "/account:withdraw", `{"amount":"100","requestId":"w1","orderId":"` + orderID + `"}`, "order_id"},
		{"withdraw order_id", u + "/account:withdraw", `{"amount":"100","requestId":"w1","order_id":"` + orderID + `"}`, "order_id"},
		{"letter orderId", u + "/notifications", `{"email":"a@example.com","subject":"s","body":"b","orderId":"` + orderID + `","requestId":"n1"}`, "notification.order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			m := wantStatus(t, e.do(t, "POST", tt.path, tt.body, nil), http.StatusBadRequest, codes.InvalidArgument)
			if m["message"] != "order_id is set by the order service" {
				t.Errorf("message = %q", m["message"])
			}
			d, _ := asSlice(m["details"])[0].(map[string]any)
			v, _ := asSlice(d["fieldViolations"])[0].(map[string]any)
			if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" || v["field"] != tt.field {
				t.Errorf("details = %v, want a BadRequest naming %s", m["details"], tt.field)
			}
			if calls := e.rec.get("method"); len(calls) != 0 {
				t.Errorf("refused request reached %q", calls)
			}
		})
	}
}
