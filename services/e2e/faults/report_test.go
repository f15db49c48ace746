package faults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// report prints the figures of the run, to the test log and to stdout so
// they are in CI's output even without -v.
func (sys *system) report(t *testing.T, results []result, cancels []cancelResult, elapsed time.Duration) {
	t.Helper()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\torders\tretries\tfirst ok after (s)\tall final after (s)\tin flight: answered/cut\t")
	perKind := map[string]int{}
	var orders, retries int
	for _, r := range results {
		perKind[r.fault.kind]++
		orders += r.orders
		retries += r.retries
		inflight := "-"
		if r.fault.kind == kindDrain {
			inflight = fmt.Sprintf("%d/%d", r.inflightOK, r.inflightCut)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", r.fault.name, r.orders, r.retries, seconds(r.firstOK), seconds(r.allFinal), inflight)
	}
	tw.Flush()
	for _, r := range results {
		if r.fault.reverted != "" {
			fmt.Fprintf(&b, "%s: %d %s; all final with one letter %s s after it\n", r.fault.name, r.reverted, r.fault.reverted, seconds(r.allFinal))
		}
	}
	if len(cancels) > 0 {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "cancellation fault\tcancels\tanswered 503 unfinished\trefunded, not yet cancelled at the kill\tanswered cancelled while down\tall cancelled with letter after (s)\t")
		for _, r := range cancels {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", r.name, r.cancels, r.unfinished, r.inWindow, r.answeredCancelledDown, seconds(r.settled))
		}
		tw.Flush()
	}

	var paid, rejected, rest, grpc int
	for _, p := range sys.placed {
		switch {
		case p.err != nil:
		case p.out.Status == "STATUS_PAID":
			paid++
		case p.out.Status == "STATUS_REJECTED":
			rejected++
		}
		if p.via == "REST" {
			rest++
		} else {
			grpc++
		}
	}
	var kinds []string
	for k, n := range perKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	sys.ev.mu.Lock()
	var causes []string
	for c, n := range sys.ev.byCause {
		causes = append(causes, fmt.Sprintf("%s %d", c, n))
	}
	sys.ev.mu.Unlock()
	sort.Strings(causes)
	fmt.Fprintf(&b, "orders placed: %d (REST %d, gRPC %d; answered paid %d, rejected %d) by %d users\n", orders, rest, grpc, paid, rejected, len(sys.users))
	fmt.Fprintf(&b, "faults injected: %d (%s)\n", len(results), strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "client retries: %d (%s)\n", retries, strings.Join(causes, ", "))
	fmt.Fprintf(&b, "recovery is measured from the moment the component was being brought back; suite time %.0fs\n", elapsed.Seconds())
	t.Logf("fault-injection figures:\n%s", b.String())
	fmt.Printf("\n==== kassa fault-injection figures ====\n%s\n", b.String())
}

func seconds(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}
