package e2e

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// servedMethods asks every running service, through server reflection,
// which services it serves, and returns the full names of the methods of
// the kassa ones.
func servedMethods(t *testing.T) []string {
	t.Helper()
	var out []string
	for name, conn := range sys.conns {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
		if err != nil {
			t.Fatalf("reflection on %s: %v", name, err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatalf("reflection on %s: %v", name, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("reflection on %s: %v", name, err)
		}
		_ = stream.CloseSend()
		for _, svc := range resp.GetListServicesResponse().GetService() {
			if !strings.HasPrefix(svc.GetName(), "kassa.") {
				continue
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.GetName()))
			if err != nil {
				t.Fatalf("%s serves %s, which the generated code does not describe: %v", name, svc.GetName(), err)
			}
			methods := d.(protoreflect.ServiceDescriptor).Methods()
			for i := range methods.Len() {
				out = append(out, "/"+svc.GetName()+"/"+string(methods.Get(i).Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// httpRules reads proto/http.yaml: selector → "VERB pattern".
func httpRules(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../proto/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	selectorRE := regexp.MustCompile(`^\s*- selector:\s*(\S+)\s*$`)
	ruleRE := regexp.MustCompile(`^\s*(get|post|patch|put|delete):\s*(\S+)\s*$`)
	out := map[string]string{}
	selectors, selector := 0, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := selectorRE.FindStringSubmatch(sc.Text()); m != nil {
			selectors++
			selector = "/" + m[1][:strings.LastIndex(m[1], ".")] + "/" + m[1][strings.LastIndex(m[1], ".")+1:]
		}
		if m := ruleRE.FindStringSubmatch(sc.Text()); m != nil && selector != "" {
			out[selector] = strings.ToUpper(m[1]) + " " + m[2]
			selector = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 || len(out) != selectors {
		t.Fatalf("found %d rules for %d selectors in http.yaml, the parser missed some: %v", len(out), selectors, out)
	}
	return out
}

// The table of authz_test.go has a row for every RPC the running services
// serve and, for every rule of http.yaml, that route on the rule's RPC.
func TestAuthzTable_CoversEveryRPCAndRoute(t *testing.T) {
	rows := authzRows(t)
	inTable := map[string]bool{}
	routes := map[string][]string{} // method → REST routes of its rows
	for _, r := range rows {
		inTable[r.method] = true
		if r.rest != nil {
			routes[r.method] = append(routes[r.method], r.rest.method+" "+r.rest.pattern)
		}
	}
	served := servedMethods(t)
	if len(served) == 0 {
		t.Fatal("reflection found no kassa method; the check below would prove nothing")
	}
	for _, m := range served {
		if !inTable[m] {
			t.Errorf("%s is served but has no row in the authz table", m)
		}
	}
	for m := range inTable {
		if !slices.Contains(served, m) {
			t.Errorf("the authz table has a row for %s, which no service serves", m)
		}
	}
	rules := httpRules(t)
	for method, route := range rules {
		if len(routes[method]) == 0 {
			t.Errorf("http.yaml routes %s to %s; no row of the authz table calls it", route, method)
		}
		for _, r := range routes[method] {
			if r != route {
				t.Errorf("a row of %s calls %s; http.yaml routes it as %s", method, r, route)
			}
		}
	}
	for method, rs := range routes {
		if _, ok := rules[method]; !ok {
			t.Errorf("rows of %s call %v, but http.yaml has no route for it", method, rs)
		}
	}
}
