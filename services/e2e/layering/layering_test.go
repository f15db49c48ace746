// Package layering checks the import rule the services are built on: the
// domain package of a service and its use cases (app/) know nothing of the
// transport. They import no gRPC package, directly or through another one;
// the mapping to gRPC statuses lives with the gRPC code (apperr/grpcstatus,
// each service's grpcserver and peers adapters).
package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kassa-dev/kassa/"

var services = []string{"billing", "notification", "order", "user"}

// transportPrefixes are the packages of the gRPC stack: gRPC itself, the
// google.rpc messages (Status, ErrorInfo, BadRequest) and the REST gateway
// runtime.
var transportPrefixes = []string{"google.golang.org/grpc", "google.golang.org/genproto/googleapis/rpc", "github.com/grpc-ecosystem"}

func transport(path string) bool {
	for _, p := range transportPrefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// importGraph runs go list -deps on patterns and returns each package's
// direct imports. The go command finds the workspace as it always does
// (GOWORK, else a go.work above this folder, else this module alone, whose
// go.mod points at every service), so the check sees what a build sees.
func importGraph(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	if out, err := exec.Command("go", "env", "GOWORK").Output(); err == nil {
		t.Logf("GOWORK=%s", strings.TrimSpace(string(out)))
	}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	graph := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			graph[fields[0]] = fields[1:]
		}
	}
	return graph
}

// chainTo returns the shortest import chain from root to a transport
// package, or nil when there is none.
func chainTo(graph map[string][]string, root string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if transport(pkg) {
			var chain []string
			for p := pkg; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range graph[pkg] {
			if _, seen := prev[imp]; !seen {
				prev[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func TestDomainAndUseCases_ImportNoTransport(t *testing.T) {
	var patterns []string
	for _, svc := range services {
		patterns = append(patterns, module+"services/"+svc, module+"services/"+svc+"/app/...")
	}
	// The gRPC servers are listed too: they must reach gRPC, which shows
	// the graph and the search can find a chain when there is one.
	for _, svc := range services {
		patterns = append(patterns, module+"services/"+svc+"/grpcserver")
	}
	graph := importGraph(t, patterns...)

	var roots []string
	for pkg := range graph {
		for _, svc := range services {
			base := module + "services/" + svc
			if pkg == base || pkg == base+"/app" || strings.HasPrefix(pkg, base+"/app/") {
				roots = append(roots, pkg)
			}
		}
	}
	slices.Sort(roots)
	if len(roots) < 2*len(services) {
		t.Fatalf("found %d domain and app packages (%v), want at least %d", len(roots), roots, 2*len(services))
	}
	for _, pkg := range roots {
		t.Run(strings.TrimPrefix(pkg, module), func(t *testing.T) {
			if chain := chainTo(graph, pkg); chain != nil {
				t.Errorf("imports the transport:\n\t%s", strings.Join(chain, "\n\t-> "))
			}
		})
	}
	for _, svc := range services {
		pkg := module + "services/" + svc + "/grpcserver"
		t.Run(strings.TrimPrefix(pkg, module), func(t *testing.T) {
			if chainTo(graph, pkg) == nil {
				t.Errorf("no import chain to gRPC found from a gRPC server: the check is blind")
			}
		})
	}
}
