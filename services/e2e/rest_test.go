package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// rest calls the gateway's REST API and decodes the JSON answer; a status
// other than 200 fails the test.
func rest(t *testing.T, method, path string, body any, header map[string]string) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, sys.stack.BaseURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d: %s", method, path, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return out
}

// restFundedUser creates a user and deposits amount through the gateway and
// returns the user's id.
func restFundedUser(t *testing.T, amount int64) string {
	t.Helper()
	id := randomID()
	u := rest(t, "POST", "/v1/users", map[string]any{"username": "rest-" + id, "email": "rest-" + id + "@example.com"},
		map[string]string{"Idempotency-Key": "user-" + id})
	userID, _ := u["id"].(string)
	if userID == "" {
		t.Fatalf("CreateUser answered without an id: %v", u)
	}
	rest(t, "POST", "/v1/users/"+userID+"/account:deposit", map[string]any{"amount": amount, "requestId": "deposit-" + id}, nil)
	return userID
}

// restOrder places an order through the gateway and returns its status.
func restOrder(t *testing.T, userID string, price int64) string {
	t.Helper()
	o := rest(t, "POST", "/v1/users/"+userID+"/orders", map[string]any{"price": price},
		map[string]string{"Idempotency-Key": "order-" + randomID()})
	status, _ := o["status"].(string)
	return status
}
