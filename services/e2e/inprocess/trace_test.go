package inprocess

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The W3C trace context a client sends with its request.
const (
	clientTraceID = "0af7651916cd43dd8448eb211c80319c"
	clientSpanID  = "b7ad6b7169203331"
)

// One REST CreateOrder is one trace: the gateway's span continues the
// client's traceparent, and below it every hop (gateway → order → user,
// billing, notification) is a client span with the callee's server span
// as its child, each service's SQL statements are children of its server
// span, and every log line written for the request carries the trace id.
func TestTrace_CreateOrder_OneTraceAcrossAllServices(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	logs := &syncBuffer{}
	sys := startSystem(t, options{instrumented: true, spans: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)}, logs: logs})
	buyer := sys.fundedUser(t, "tracy", 10000)
	// Forget the set-up: only the order's spans and log lines from here. A
	// server span of the set-up may still end after Reset (a server ends
	// its span after the client has its answer), so its trace is
	// remembered and its late spans are dropped below.
	setup := map[string]bool{}
	for _, s := range exp.GetSpans() {
		setup[s.SpanContext.TraceID().String()] = true
	}
	exp.Reset()
	logs.Reset()

	o := sys.call(t, "POST", "/v1/users/"+buyer.id+"/orders", map[string]any{"price": 2500}, buyer.auth(http.Header{
		"Idempotency-Key": {"order-1"},
		"Traceparent":     {"00-" + clientTraceID + "-" + clientSpanID + "-01"},
	}))
	if o["status"] != "STATUS_PAID" {
		t.Fatalf("order = %v, want paid", o)
	}
	// Each server logs its call before answering, the gateway before
	// ServeHTTP returns: the request's lines are all written now.
	lines := logs.lines(t)
	sys.Stop() // every server span has ended

	var spans tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if !setup[s.SpanContext.TraceID().String()] {
			spans = append(spans, s)
		}
	}
	traceIDs := map[string]int{}
	for _, s := range spans {
		traceIDs[s.SpanContext.TraceID().String()]++
	}
	if len(traceIDs) != 1 || traceIDs[clientTraceID] == 0 {
		t.Fatalf("spans belong to traces %v, want all in the client's trace %s:\n%s", traceIDs, clientTraceID, dump(spans))
	}

	tree := newTree(t, spans)
	t.Logf("the order's trace:\n%s", tree.render())
	root := tree.one("gateway", trace.SpanKindServer, "POST /v1/users/{user_id}/orders")
	if root.Parent.SpanID().String() != clientSpanID || !root.Parent.IsRemote() {
		t.Errorf("gateway span's parent = %s (remote %v), want the client's span %s", root.Parent.SpanID(), root.Parent.IsRemote(), clientSpanID)
	}
	orderServer := tree.hop(root, "gateway", "order", "kassa.order.v1.OrderService/CreateOrder")
	userServer := tree.hop(orderServer, "order", "user", "kassa.user.v1.UserService/GetUser")
	billingServer := tree.hop(orderServer, "order", "billing", "kassa.billing.v1.BillingService/Withdraw")
	letterServer := tree.hop(orderServer, "order", "notification", "kassa.notification.v1.NotificationService/SendNotification")

	// The order's steps in their order: look up the buyer, pay, write.
	getUser := tree.one("order", trace.SpanKindClient, "kassa.user.v1.UserService/GetUser")
	withdraw := tree.one("order", trace.SpanKindClient, "kassa.billing.v1.BillingService/Withdraw")
	send := tree.one("order", trace.SpanKindClient, "kassa.notification.v1.NotificationService/SendNotification")
	if !(getUser.EndTime.Before(withdraw.StartTime) && withdraw.EndTime.Before(send.StartTime)) {
		t.Errorf("calls out of order: GetUser %v-%v, Withdraw %v-%v, SendNotification %v-%v",
			getUser.StartTime, getUser.EndTime, withdraw.StartTime, withdraw.EndTime, send.StartTime, send.EndTime)
	}

	// Each service's database work hangs under its own server span.
	for _, c := range []struct {
		service string
		parent  tracetest.SpanStub
		want    []string // span name prefixes that must be there
	}{
		// order: insert the order (which finds a taken key too), then one
		// WITH records the outcome with its outbox letter and one WITH marks
		// the letter sent.
		{"order", orderServer, []string{"INSERT ", "WITH "}},
		{"user", userServer, []string{"SELECT "}},
		{"billing", billingServer, []string{"sql.conn.begin_tx", "SELECT ", "WITH ", "sql.tx.commit"}}, // WITH: the entry and the balance in one statement
		{"notification", letterServer, []string{"INSERT "}},
	} {
		db := tree.children(c.parent, c.service, trace.SpanKindClient, "")
		var names []string
		for _, s := range db {
			if !hasAttr(s, "db.system.name", "postgresql") {
				continue
			}
			names = append(names, s.Name)
		}
		for _, prefix := range c.want {
			if !anyHasPrefix(names, prefix) {
				t.Errorf("%s: no database span %q… under its server span; database spans: %v", c.service, prefix, names)
			}
		}
	}

	// Every line logged while serving the order carries its trace id.
	services := map[string]bool{}
	for _, l := range lines {
		services[l["service"].(string)] = true
		if l["trace_id"] != clientTraceID {
			t.Errorf("log line without the order's trace id: %v", l)
		}
	}
	for _, svc := range []string{"gateway", "order", "user", "billing", "notification"} {
		if !services[svc] {
			t.Errorf("no log line from %s while serving the order (lines: %d)", svc, len(lines))
		}
	}
}

// tree indexes the spans of one trace by service.
type tree struct {
	t     *testing.T
	spans tracetest.SpanStubs
}

func newTree(t *testing.T, spans tracetest.SpanStubs) *tree { return &tree{t: t, spans: spans} }

func service(s tracetest.SpanStub) string {
	v, _ := s.Resource.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}

// one returns the only span of service with kind and name.
func (tr *tree) one(svc string, kind trace.SpanKind, name string) tracetest.SpanStub {
	tr.t.Helper()
	var found []tracetest.SpanStub
	for _, s := range tr.spans {
		if service(s) == svc && s.SpanKind == kind && s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		tr.t.Fatalf("%d %s spans %q in %s, want 1:\n%s", len(found), kind, name, svc, dump(tr.spans))
	}
	return found[0]
}

// children returns the spans of service (with kind, and name unless "")
// whose parent is p.
func (tr *tree) children(p tracetest.SpanStub, svc string, kind trace.SpanKind, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range tr.spans {
		if s.Parent.SpanID() == p.SpanContext.SpanID() && service(s) == svc && s.SpanKind == kind && (name == "" || s.Name == name) {
			out = append(out, s)
		}
	}
	return out
}

// hop checks one gRPC call from caller to callee under parent: a client
// span of the caller under parent, and the callee's server span under it.
// It returns the server span.
func (tr *tree) hop(parent tracetest.SpanStub, caller, callee, method string) tracetest.SpanStub {
	tr.t.Helper()
	client := tr.one(caller, trace.SpanKindClient, method)
	if client.Parent.SpanID() != parent.SpanContext.SpanID() {
		tr.t.Errorf("%s's client span %s has parent %s, want %q %s", caller, method, client.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
	srv := tr.one(callee, trace.SpanKindServer, method)
	if srv.Parent.SpanID() != client.SpanContext.SpanID() || !srv.Parent.IsRemote() {
		tr.t.Errorf("%s's server span %s has parent %s (remote %v), want %s's client span %s",
			callee, method, srv.Parent.SpanID(), srv.Parent.IsRemote(), caller, client.SpanContext.SpanID())
	}
	return srv
}

func hasAttr(s tracetest.SpanStub, key, value string) bool {
	for _, a := range s.Attributes {
		if string(a.Key) == key && a.Value.Emit() == value {
			return true
		}
	}
	return false
}

func anyHasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// dump lists spans as "service kind name (span ← parent)", for failures.
func dump(spans tracetest.SpanStubs) string {
	var lines []string
	for _, s := range spans {
		lines = append(lines, service(s)+" "+s.SpanKind.String()+" "+s.Name+" ("+s.SpanContext.SpanID().String()+" ← "+s.Parent.SpanID().String()+")")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// render draws the trace as an indented tree, children in start order:
// "service kind name duration".
func (tr *tree) render() string {
	byParent := map[trace.SpanID][]tracetest.SpanStub{}
	ids := map[trace.SpanID]bool{}
	for _, s := range tr.spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var roots []tracetest.SpanStub
	for _, s := range tr.spans {
		if ids[s.Parent.SpanID()] {
			byParent[s.Parent.SpanID()] = append(byParent[s.Parent.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		fmt.Fprintf(&b, "%s%-12s %-8s %s  %v\n", strings.Repeat("  ", depth), service(s), s.SpanKind, s.Name, s.EndTime.Sub(s.StartTime).Round(time.Microsecond))
		kids := byParent[s.SpanContext.SpanID()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime.Before(kids[j].StartTime) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
