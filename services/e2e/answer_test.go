package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// answer is what the gateway said to one REST call, whatever its status.
type answer struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

// call sends one request to the gateway and returns its answer without
// judging the status. body is sent as is when it is a []byte (to carry
// bytes json.Marshal would not write) and as JSON otherwise.
func call(t *testing.T, method, path string, body any, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, sys.stack.BaseURL()+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(a.raw, &a.json) // a non-JSON answer keeps only raw
	return a
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.raw)) }

// message is the google.rpc.Status message of an error answer.
func (a answer) message() string { s, _ := a.json["message"].(string); return s }

// details returns the error details of the given type (the suffix of
// their @type, such as "google.rpc.ErrorInfo").
func (a answer) details(typ string) []map[string]any {
	list, _ := a.json["details"].([]any)
	var out []map[string]any
	for _, d := range list {
		m, _ := d.(map[string]any)
		if at, _ := m["@type"].(string); strings.HasSuffix(at, "/"+typ) {
			out = append(out, m)
		}
	}
	return out
}

// reason is the kassa.dev ErrorInfo reason of an error answer, or "".
func (a answer) reason() string {
	for _, d := range a.details("google.rpc.ErrorInfo") {
		if d["domain"] == "kassa.dev" {
			r, _ := d["reason"].(string)
			return r
		}
	}
	return ""
}

// violatedFields lists the fields named by the answer's BadRequest detail.
func (a answer) violatedFields() []string {
	var out []string
	for _, d := range a.details("google.rpc.BadRequest") {
		list, _ := d["fieldViolations"].([]any)
		for _, v := range list {
			m, _ := v.(map[string]any)
			if f, _ := m["field"].(string); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// str reads a string member of a JSON object, following dotted names.
func str(m map[string]any, path string) string {
	var v any = m
	for _, name := range strings.Split(path, ".") {
		obj, _ := v.(map[string]any)
		v = obj[name]
	}
	s, _ := v.(string)
	return s
}

// expect fails the test unless the answer has the status and, when reason
// is not empty, that kassa.dev reason.
func expect(t *testing.T, what string, a answer, status int, reason string) {
	t.Helper()
	if a.status != status || (reason != "" && a.reason() != reason) {
		t.Fatalf("%s: %s; want %d %s", what, a, status, reason)
	}
}

// ok fails the test unless the answer is 200 and returns its JSON.
func ok(t *testing.T, what string, a answer) map[string]any {
	t.Helper()
	expect(t, what, a, http.StatusOK, "")
	return a.json
}

// snapshot is everything a user can see of their own state, read with
// their own token; comparing two tells whether a refused request changed
// anything. It reads over gRPC, so the tests' oracle does not spend the
// user's request budget at the gateway.
func snapshot(t *testing.T, c *customer) string {
	t.Helper()
	ctx := c.ctx()
	var b strings.Builder
	for _, r := range []struct {
		name string
		read func() (proto.Message, error)
	}{
		{"user", func() (proto.Message, error) { return sys.users.GetUser(ctx, &userv1.GetUserRequest{Id: c.id}) }},
		{"account", func() (proto.Message, error) {
			return sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: c.id})
		}},
		{"ledger", func() (proto.Message, error) {
			return sys.billing.ListTransactions(ctx, &billingv1.ListTransactionsRequest{UserId: c.id, PageSize: 1000})
		}},
		{"orders", func() (proto.Message, error) {
			return sys.orders.ListOrders(ctx, &orderv1.ListOrdersRequest{UserId: c.id, PageSize: 1000})
		}},
		{"letters", func() (proto.Message, error) {
			return sys.notification.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{UserId: c.id, PageSize: 1000})
		}},
	} {
		m, err := r.read()
		if err != nil {
			t.Fatalf("snapshot of %s: %s: %v", c, r.name, err)
		}
		fmt.Fprintf(&b, "%s: %s\n", r.name, protojson.Format(m))
	}
	return b.String()
}

// listOf returns the objects of a list answer's member (orders, ...).
func listOf(m map[string]any, member string) []map[string]any {
	list, _ := m[member].([]any)
	var out []map[string]any
	for _, v := range list {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// where returns the objects whose member name equals value.
func where(list []map[string]any, name, value string) []map[string]any {
	return slices.DeleteFunc(slices.Clone(list), func(o map[string]any) bool { return str(o, name) != value })
}

// changes lists the lines of snapshot after that differ from before.
func changes(before, after string) string {
	was := strings.Split(before, "\n")
	var b strings.Builder
	for i, line := range strings.Split(after, "\n") {
		if i >= len(was) || was[i] != line {
			fmt.Fprintf(&b, "  now %s\n", line)
		}
	}
	return b.String()
}
