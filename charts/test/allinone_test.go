package charttest

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
