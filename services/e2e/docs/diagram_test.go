// Package docs checks that the architecture diagrams tell the truth about
// the code.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const root = "../../.."

// callRE matches a call through a generated client in a service:
// client.Withdraw(ctx, &billingv1.WithdrawRequest{...}).
var callRE = regexp.MustCompile(`\.(\w+)\(\w+, &(\w+)v1\.(\w+)Request\b`)

// edgeRE matches an edge between services in components.d2:
// "order -> billing: Withdraw".
var edgeRE = regexp.MustCompile(`^\s*(\w+) -> (\w+): ([^{]+?)\s*(\{.*\})?$`)

var services = map[string]bool{"user": true, "billing": true, "order": true, "notification": true}

// platformCalls lists, by package name, the calls to a service that a
// platform package makes for the service that uses it (usertoken: user
// Token).
func platformCalls(t *testing.T) map[string][]string {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(root, "services", "platform"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, "services", "platform", d.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range callRE.FindAllStringSubmatch(string(src), -1) {
				if m[1] == m[3] && services[m[2]] {
					calls[d.Name()] = append(calls[d.Name()], m[2]+" "+m[1])
				}
			}
		}
	}
	return calls
}

// codeCalls lists "caller -> callee RPC" for every gRPC call one service
// makes to another, itself or through a platform package it uses.
func codeCalls(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	viaPlatform := platformCalls(t)
	for svc := range services {
		err := filepath.WalkDir(filepath.Join(root, "services", svc), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range callRE.FindAllStringSubmatch(string(src), -1) {
				if m[1] == m[3] && services[m[2]] && m[2] != svc {
					set[svc+" -> "+m[2]+" "+m[1]] = true
				}
			}
			for pkg, calls := range viaPlatform {
				if !strings.Contains(string(src), pkg+".") {
					continue
				}
				for _, c := range calls {
					if !strings.HasPrefix(c, svc+" ") {
						set[svc+" -> "+c] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return sorted(set)
}

// diagramCalls lists "caller -> callee RPC" for every labelled edge between
// two services in the component diagram.
func diagramCalls(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "docs/diagrams/components.d2"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		m := edgeRE.FindStringSubmatch(line)
		if m == nil || !services[m[1]] || !services[m[2]] {
			continue
		}
		for _, rpc := range strings.Split(m[3], ",") {
			set[m[1]+" -> "+m[2]+" "+strings.TrimSpace(rpc)] = true
		}
	}
	return sorted(set)
}

func TestComponentDiagram_MatchesServiceCalls(t *testing.T) {
	code, drawn := codeCalls(t), diagramCalls(t)
	if len(code) < 5 {
		t.Fatalf("found only %d inter-service calls in the code (%v); the scanner is broken", len(code), code)
	}
	if strings.Join(code, "\n") != strings.Join(drawn, "\n") {
		t.Errorf("components.d2 does not match the code.\nin the code:\n  %s\ndrawn:\n  %s",
			strings.Join(code, "\n  "), strings.Join(drawn, "\n  "))
	}
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
