package charttest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The all-in-one profile (mode: allinone) runs the five components in one
// container, /usr/local/bin/kassa serve. The invariants are about
// components, so a Deployment is seen as the components it runs: an
// instance each, with the environment as that component reads it.

const (
	allInOneComponent = "allinone"
	allInOneBinary    = "/usr/local/bin/kassa"
)

// componentNames are kassa's five components in a fixed order.
var componentNames = []string{"user", "billing", "order", "notification", "gateway"}

// perInstance are the settings the all-in-one process never reads under
// the plain name (services/allinone/config.go): each component must have
// its own.
var perInstance = map[string]bool{
	"LISTEN_ADDR": true, "ADMIN_ADDR": true, "DATABASE_URL": true,
	"AUTH_CLIENT_ID": true, "AUTH_CLIENT_SECRET": true, "AUTH_CLIENT_SECRET_FILE": true,
}

// instance is one component as a pod runs it.
type instance struct {
	comp string
	w    workload
	c    corev1.Container // with the environment as comp reads it
}

func (i instance) String() string {
	if i.w.component() == i.comp {
		return i.w.String()
	}
	return i.w.String() + " (" + i.comp + ")"
}

// isAllInOne reports whether c runs the all-in-one binary.
func isAllInOne(c corev1.Container) bool {
	return len(c.Command) > 0 && c.Command[0] == allInOneBinary
}

// componentView is container c of the all-in-one binary with the
// environment component comp reads: its prefixed variables under their
// plain names, then the shared plain ones it has no own value of.
func componentView(c corev1.Container, comp string) corev1.Container {
	prefix := strings.ToUpper(comp) + "_"
	var own, shared []corev1.EnvVar
	have := map[string]bool{}
	for _, ev := range c.Env {
		if name, ok := strings.CutPrefix(ev.Name, prefix); ok {
			ev.Name = name
			own = append(own, ev)
			have[name] = true
		}
	}
	for _, ev := range c.Env {
		if prefixed(ev.Name) || perInstance[ev.Name] || have[ev.Name] {
			continue
		}
		shared = append(shared, ev)
	}
	c.Env = append(own, shared...)
	return c
}

// prefixed reports whether an environment variable is some component's own.
func prefixed(name string) bool {
	return slices.ContainsFunc(componentNames, func(comp string) bool {
		return strings.HasPrefix(name, strings.ToUpper(comp)+"_")
	})
}

// instancesOf lists the components a Deployment's pods run.
func instancesOf(w workload) []instance {
	var out []instance
	for _, c := range w.spec.Containers {
		if !isAllInOne(c) {
			out = append(out, instance{w.component(), w, c})
			continue
		}
		for _, comp := range componentNames {
			out = append(out, instance{comp, w, componentView(c, comp)})
		}
	}
	return out
}

// instances lists every component of every Deployment.
func (m *manifest) instances() []instance {
	var out []instance
	for _, w := range m.workloads {
		if w.kind == "Deployment" {
			out = append(out, instancesOf(w)...)
		}
	}
	return out
}

// hosts reports whether workload w runs component comp.
func hosts(w workload, comp string) bool {
	if w.kind != "Deployment" {
		return false
	}
	return slices.ContainsFunc(instancesOf(w), func(i instance) bool { return i.comp == comp })
}

// migrateView is a migration container as component comp's migration
// reads it: the all-in-one binary's under comp's prefix.
func migrateView(c corev1.Container, comp string) corev1.Container {
	if isAllInOne(c) {
		return componentView(c, comp)
	}
	return c
}

// wantAllInOneEnv are the settings each component must get under its own
// prefix in the all-in-one container (the plain ones would be ignored or
// shared by all).
var wantAllInOneEnv = map[string][]string{
	"user":         {"LISTEN_ADDR", "ADMIN_ADDR", "DATABASE_URL", "DB_MAX_CONNS", "AUTH_SIGNING_KEYS", "AUTH_CLIENTS"},
	"billing":      {"LISTEN_ADDR", "ADMIN_ADDR", "DATABASE_URL", "DB_MAX_CONNS"},
	"order":        {"LISTEN_ADDR", "ADMIN_ADDR", "DATABASE_URL", "DB_MAX_CONNS", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET_FILE"},
	"notification": {"LISTEN_ADDR", "ADMIN_ADDR", "DATABASE_URL", "DB_MAX_CONNS", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET_FILE"},
	"gateway":      {"LISTEN_ADDR", "ADMIN_ADDR", "JWKS_SOURCE_URL"},
}

// checkAllInOne: the facts of the all-in-one profile. One Deployment runs
// kassa serve and nothing else does; every Service selects it; each
// component gets its settings under its prefix, listens where its Service
// sends, and no peer address (the calls are in process).
func checkAllInOne(m *manifest, allInOne bool) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	var aio []workload
	for _, w := range m.workloads {
		if w.kind == "Deployment" && w.component() == allInOneComponent {
			aio = append(aio, w)
		}
	}
	if !allInOne {
		if len(aio) > 0 {
			add("mode microservices, yet %d all-in-one Deployments are rendered", len(aio))
		}
		return bad
	}
	if len(m.deployments) != 1 || len(aio) != 1 {
		add("mode allinone renders %d Deployments (%d all-in-one), want exactly the one all-in-one Deployment", len(m.deployments), len(aio))
		return bad
	}
	w := aio[0]
	if len(w.spec.Containers) != 1 || !isAllInOne(w.spec.Containers[0]) || !slices.Equal(w.spec.Containers[0].Args, []string{"serve"}) {
		add("%s does not run %s serve in its one container", w, allInOneBinary)
		return bad
	}
	c := w.spec.Containers[0]
	for _, svc := range m.services {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.labels)) {
			add("Service %s does not select the all-in-one pods", svc.Name)
		}
	}
	names := map[string]bool{}
	for _, ev := range c.Env {
		names[ev.Name] = true
	}
	for comp, want := range wantAllInOneEnv {
		prefix := strings.ToUpper(comp) + "_"
		for _, name := range want {
			if !names[prefix+name] {
				add("%s: component %s has no %s%s", w, comp, prefix, name)
			}
		}
		view := componentView(c, comp)
		for _, addr := range []struct {
			env  string
			port int32
		}{{"LISTEN_ADDR", wantPorts[comp].port}, {"ADMIN_ADDR", wantPorts[comp].metrics}} {
			if got := env(view, addr.env); got != fmt.Sprintf(":%d", addr.port) {
				add("%s: %s%s %q, want \":%d\" (its Service's target)", w, prefix, addr.env, got, addr.port)
			}
		}
		svc := m.services[releaseName+"-"+comp]
		if svc == nil {
			add("component %s has no Service %s-%s", comp, releaseName, comp)
			continue
		}
		for _, p := range svc.Spec.Ports {
			want := wantPorts[comp].port
			if p.Name == "metrics" {
				want = wantPorts[comp].metrics
			}
			if p.Port != want || p.TargetPort != intstr.FromInt32(want) && !(p.TargetPort.Type == intstr.String && declaresPortNumbered(c, p.TargetPort.StrVal, want)) {
				add("Service %s port %s: %d -> %s, want %d to the all-in-one container's %d", svc.Name, p.Name, p.Port, p.TargetPort.String(), want, want)
			}
		}
	}
	for _, ev := range c.Env {
		if strings.HasSuffix(ev.Name, "_ADDR") && !strings.HasSuffix(ev.Name, "_LISTEN_ADDR") && !strings.HasSuffix(ev.Name, "_ADMIN_ADDR") {
			add("%s: env %s: the all-in-one process calls its peers in process and has no peer addresses", w, ev.Name)
		}
		if perInstance[ev.Name] {
			add("%s: env %s: the all-in-one process ignores the plain name; it needs one per component", w, ev.Name)
		}
	}
	return bad
}

// declaresPortNumbered reports whether c has a port named name with number n.
func declaresPortNumbered(c corev1.Container, name string, n int32) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == n })
}

// TestAllInOneOptions: the all-in-one profile over the other profiles and
// switches still meets every invariant, so it is checked as thoroughly as
// the per-service one.
func TestAllInOneOptions(t *testing.T) {
	aio := filepath.Join(chartDir, "values-allinone.yaml")
	for _, tc := range []struct {
		name  string
		p     profile
		facts func(t *testing.T, m *manifest)
	}{
		{"initContainer CI profile", profile{name: "ci", file: filepath.Join(chartDir, "ci", "initcontainer-values.yaml"), sets: []string{"mode=allinone"}}, func(t *testing.T, m *manifest) {
			c := deploymentOf(t, m, allInOneComponent).Spec.Template.Spec
			if len(c.InitContainers) != 1 || !slices.Equal(c.InitContainers[0].Args, []string{"migrate"}) || len(m.jobs) != 0 {
				t.Errorf("want one init container running kassa migrate and no Job, got %d init containers, %d Jobs", len(c.InitContainers), len(m.jobs))
			}
			if got := env(componentView(c.Containers[0], "gateway"), "LOG_LEVEL"); got != "warn" {
				t.Errorf("gateway.env LOG_LEVEL: the gateway reads %q, want warn (GATEWAY_LOG_LEVEL)", got)
			}
			if got := env(componentView(c.Containers[0], "order"), "LOG_LEVEL"); got != "debug" {
				t.Errorf("order reads LOG_LEVEL %q, want the shared debug", got)
			}
		}},
		{"over the kind profile", profile{name: "kind", file: filepath.Join(chartDir, "values-kind.yaml"), sets: []string{"mode=allinone"}}, func(t *testing.T, m *manifest) {
			replicas(t, m, 2)
			if len(m.clusters) != 1 || len(m.pdbs) != 0 {
				t.Errorf("want the CloudNativePG cluster and no PDB, got %d clusters, %d PDBs", len(m.clusters), len(m.pdbs))
			}
		}},
		{"over the production profile", profile{name: "production", file: filepath.Join(chartDir, "values-production.yaml"), sets: []string{"mode=allinone"}}, func(t *testing.T, m *manifest) {
			if len(m.hpas) != 1 || len(m.ingresses) != 1 || m.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "kassa-gateway" {
				t.Errorf("want one HPA and the Ingress to kassa-gateway, got %d HPAs, %d Ingresses", len(m.hpas), len(m.ingresses))
			}
		}},
		{"CloudNativePG", profile{name: "cnpg", file: aio, sets: []string{"database.cloudnativepg.enabled=true"}}, func(t *testing.T, m *manifest) {
			c := deploymentOf(t, m, allInOneComponent).Spec.Template.Spec.Containers[0]
			n := 0
			for _, ev := range c.Env {
				if ev.Name == "PGUSER" {
					n++
				}
			}
			if n != 1 || env(componentView(c, "billing"), "DATABASE_URL") != "postgres://kassa-db-rw:5432/kassa_billing?sslmode=require" {
				t.Errorf("want PGUSER once and billing on kassa_billing of kassa-db, got %d PGUSER, %q", n, env(componentView(c, "billing"), "DATABASE_URL"))
			}
		}},
		{"autoscaling", profile{name: "hpa", file: aio, sets: []string{"autoscaling.enabled=true"}}, func(t *testing.T, m *manifest) {
			if len(m.hpas) != 1 || m.hpas[0].Spec.ScaleTargetRef.Name != "kassa-allinone" {
				t.Errorf("want one HPA of kassa-allinone, got %d", len(m.hpas))
			}
		}},
		{"no network policy", profile{name: "nonp", file: aio, sets: []string{"networkPolicy.enabled=false"}}, func(t *testing.T, m *manifest) {
			if len(m.netpols) != 0 {
				t.Errorf("%d NetworkPolicies rendered", len(m.netpols))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(tc.p.args()...)
			if err != nil {
				t.Fatal(err)
			}
			objs := mustDecode(t, out)
			for _, v := range check(objs, expectationsFor(loadValues(t, tc.p))) {
				t.Error(v)
			}
			m, _ := index(objs)
			tc.facts(t, m)
		})
	}
}

// TestAllInOneChecksBite breaks one fact of the all-in-one render at a time
// and expects check to report it.
func TestAllInOneChecksBite(t *testing.T) {
	p := profile{name: "values-allinone.yaml", file: filepath.Join(chartDir, "values-allinone.yaml")}
	manifests, err := render(p.args()...)
	if err != nil {
		t.Fatal(err)
	}
	exp := expectationsFor(loadValues(t, p))
	if v := check(mustDecode(t, manifests), exp); len(v) > 0 {
		t.Fatalf("the unbroken render has violations: %v", v)
	}
	aio := func(objs []*object) *corev1.Container {
		return &objectNamed[*appsv1.Deployment](t, objs, "kassa-allinone").Spec.Template.Spec.Containers[0]
	}
	dropEnv := func(c *corev1.Container, name string) {
		n := len(c.Env)
		c.Env = slices.DeleteFunc(c.Env, func(ev corev1.EnvVar) bool { return ev.Name == name })
		if len(c.Env) == n {
			t.Fatalf("no env %s to drop", name)
		}
	}
	micro := func() []*object {
		out, err := render(defaultProfile().args()...)
		if err != nil {
			t.Fatal(err)
		}
		return mustDecode(t, out)
	}
	for _, tc := range []struct {
		name   string
		mutate func(objs []*object) []*object
		want   string
	}{
		{"a per-service Deployment besides", func(o []*object) []*object {
			return append(o, &object{Kind: "Deployment", Name: "kassa-order", Obj: objectNamed[*appsv1.Deployment](t, micro(), "kassa-order")})
		}, "mode allinone renders 2 Deployments"},
		{"runs the gateway binary", func(o []*object) []*object {
			aio(o).Command = []string{"/usr/local/bin/gateway"}
			return o
		}, "does not run /usr/local/bin/kassa serve"},
		{"a Service selecting other pods", func(o []*object) []*object {
			objectNamed[*corev1.Service](t, o, "kassa-billing").Spec.Selector[componentLabel] = "billing"
			return o
		}, "Service kassa-billing does not select the all-in-one pods"},
		{"the order service's database URL without prefix", func(o []*object) []*object {
			c := aio(o)
			for i := range c.Env {
				if c.Env[i].Name == "ORDER_DATABASE_URL" {
					c.Env[i].Name = "DATABASE_URL"
				}
			}
			return o
		}, "component order has no ORDER_DATABASE_URL"},
		{"notification without its client id", func(o []*object) []*object {
			dropEnv(aio(o), "NOTIFICATION_AUTH_CLIENT_ID")
			return o
		}, `(notification): container kassa: AUTH_CLIENT_ID "", want "notification"`},
		{"a peer address", func(o []*object) []*object {
			c := aio(o)
			c.Env = append(c.Env, corev1.EnvVar{Name: "ORDER_BILLING_ADDR", Value: "kassa-billing:50052"})
			return o
		}, "env ORDER_BILLING_ADDR: the all-in-one process calls its peers in process"},
		{"user listening off its Service's port", func(o []*object) []*object {
			c := aio(o)
			for i := range c.Env {
				if c.Env[i].Name == "USER_LISTEN_ADDR" {
					c.Env[i].Value = ":50099"
				}
			}
			return o
		}, `USER_LISTEN_ADDR ":50099", want ":50051"`},
		{"gRPC port open to the pods", func(o []*object) []*object {
			np := objectNamed[*networkingv1.NetworkPolicy](t, o, "kassa-allinone")
			port := intstr.FromInt32(50053)
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}})
			return o
		}, "Deployment kassa-allinone port grpc-50053: admitted [anyone], want exactly its callers []"},
		{"key set unreachable from the other replicas", func(o []*object) []*object {
			np := objectNamed[*networkingv1.NetworkPolicy](t, o, "kassa-allinone")
			np.Spec.Ingress = slices.Delete(np.Spec.Ingress, 1, 2) // the rule after the gateway's
			return o
		}, "Deployment kassa-allinone port admin-9101: does not admit allinone"},
		{"a client secret from a Secret nobody makes", func(o []*object) []*object {
			ps := &objectNamed[*appsv1.Deployment](t, o, "kassa-allinone").Spec.Template.Spec
			ps.Volumes[0].Projected.Sources[1].Secret.Name = "kassa-clients-typo"
			return o
		}, "volume auth: Secret kassa-clients-typo is neither rendered nor the external Secret the values name"},
		{"migration Job on the gateway binary", func(o []*object) []*object {
			objectNamed[*batchv1.Job](t, o, "kassa-allinone-migrate").Spec.Template.Spec.Containers[0].Command = []string{"/usr/local/bin/user"}
			return o
		}, "(user): no pre-upgrade hook Job runs /usr/local/bin/kassa migrate on its database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := check(tc.mutate(mustDecode(t, manifests)), exp)
			if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, tc.want) }) {
				t.Errorf("want a violation containing %q, got %d:\n%s", tc.want, len(got), strings.Join(got, "\n"))
			}
		})
	}
	// Rendered all-in-one, expected per service: the mismatch is reported.
	micExp := exp
	micExp.allInOne = false
	if v := check(mustDecode(t, manifests), micExp); !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, "mode microservices, yet 1 all-in-one Deployments") }) {
		t.Errorf("want the unexpected all-in-one Deployment reported, got %v", v)
	}
}

// A misspelt mode stops the render instead of falling back to microservices.
func TestAllInOneModeRefused(t *testing.T) {
	_, err := render(append(defaultProfile().args(), "--set", "mode=all-in-one")...)
	if err == nil || !strings.Contains(err.Error(), "mode") || !strings.Contains(err.Error(), "value must be one of") {
		t.Fatalf("want the schema to refuse mode=all-in-one, got %v", err)
	}
}
