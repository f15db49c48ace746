package profile

import (
	"strings"
	"testing"
	"time"
)

func TestClassifyChargesTheInnermostKnownFrame(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		// A write to the database's socket, under the driver, under the
		// logging interceptor that wraps the handler: a syscall.
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "internal/poll.(*FD).Write", "github.com/lib/pq.(*conn).send",
			"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging.UnaryServerInterceptor.func2"}, "network syscalls"},
		// memmove has no category; its caller, the slog handler, has.
		{[]string{"runtime.memmove", "log/slog.(*TextHandler).Handle", "github.com/kassa-dev/kassa/services/order/app.(*Service).Create"}, "logging"},
		// Allocation inside the tracer is GC work, not tracing.
		{[]string{"runtime.mallocgc", "runtime.newobject", "go.opentelemetry.io/otel/sdk/trace.(*tracer).newSpan"}, "GC, allocation"},
		{[]string{"strconv.AppendInt", "go.opentelemetry.io/otel/attribute.Int64", "github.com/kassa-dev/kassa/x"}, "tracing"},
		{[]string{"database/sql.convertAssignRows", "github.com/jmoiron/sqlx.(*Row).scanAny"}, "database driver"},
		{[]string{"runtime.futex", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable"}, "scheduler, wake-ups"},
		{[]string{"golang.org/x/net/http2.(*Framer).ReadFrameHeader", "google.golang.org/grpc/internal/transport.(*http2Client).reader"}, "gRPC, HTTP/2"},
		{[]string{"google.golang.org/protobuf/encoding/protojson.encoder.marshalMessage"}, "protobuf, JSON"},
		{[]string{"github.com/kassa-dev/kassa/services/order.OutcomeLetter"}, "kassa code"},
		{[]string{"runtime.memeqbody", "aeshashbody"}, Other},
	} {
		if got := Classify(c.stack); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.stack, got, c.want)
		}
	}
}

const traces = `File: order
Type: cpu
Duration: 10s, Total samples = 60ms (0.6%)
-----------+-------------------------------------------------------
      30ms   internal/runtime/syscall/linux.Syscall6
             syscall.Syscall
             github.com/lib/pq.(*conn).recv
-----------+-------------------------------------------------------
      20ms   runtime.memmove
             log/slog.(*handleState).appendString
             log/slog.(*TextHandler).Handle
-----------+-------------------------------------------------------
      10ms   memeqbody
-----------+-------------------------------------------------------
`

func TestParseTraces(t *testing.T) {
	b, err := ParseTraces(traces)
	if err != nil {
		t.Fatal(err)
	}
	if b.Total != 60*time.Millisecond {
		t.Errorf("total %v, want 60ms", b.Total)
	}
	if b.By["network syscalls"] != 30*time.Millisecond || b.By["logging"] != 20*time.Millisecond || b.By[Other] != 10*time.Millisecond {
		t.Errorf("breakdown %v", b.By)
	}
	if s := b.String(); !strings.HasPrefix(s, "network syscalls 50%, logging 33%, other 17%") {
		t.Errorf("String = %q", s)
	}
	if b.Share("tracing") != 0 || (Breakdown{}).Share("x") != 0 {
		t.Error("an absent category must have share 0")
	}
	if _, err := ParseTraces("File: x\nno traces here\n"); err == nil {
		t.Error("output without traces was accepted")
	}
	if _, err := ParseTraces("-----------+---\n   notatime   frame\n"); err == nil {
		t.Error("a block without a time was accepted")
	}
}
