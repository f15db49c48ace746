package charttest

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func checkServices(m *manifest) []string {
	var bad []string
	for _, s := range m.services {
		add := func(format string, a ...any) { bad = append(bad, "Service "+s.Name+": "+fmt.Sprintf(format, a...)) }
		if len(s.Spec.Selector) == 0 {
			add("has no selector")
			continue
		}
		var deps []workload
		for _, w := range selected(m, labels.SelectorFromSet(s.Spec.Selector)) {
			if w.kind == "Deployment" {
				deps = append(deps, w)
			} else {
				add("selects the pods of %s, which serve nothing", w)
			}
		}
		if len(deps) == 0 {
			add("selects no Deployment's pods (selector %v)", s.Spec.Selector)
		}
		if len(s.Spec.Ports) == 0 {
			add("has no ports")
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, d := range deps {
				if !podDeclaresPort(d.spec, target, p.Protocol) {
					add("port %s targets %s, which %s does not declare", p.Name, target.String(), d)
				}
			}
		}
	}
	return bad
}

// checkIngresses: every Ingress path leads to a port of a rendered Service.
func checkIngresses(m *manifest) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	for _, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service == nil {
					add("Ingress %s: a path without a Service backend", ing.Name)
					continue
				}
				svc := m.services[p.Backend.Service.Name]
				if svc == nil {
					add("Ingress %s: backend Service %s is not rendered", ing.Name, p.Backend.Service.Name)
					continue
				}
				if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return sp.Name == p.Backend.Service.Port.Name && sp.Name != "" || sp.Port == p.Backend.Service.Port.Number && sp.Port != 0
				}) {
					add("Ingress %s: Service %s has no port %v", ing.Name, svc.Name, p.Backend.Service.Port)
				}
			}
		}
	}
	return bad
}

// edge is a peer address: component from dials component to.
type edge struct{ from, to string }

// checkPeers: every *_ADDR of a container names a rendered Service and one
// of its ports, and the Service is the component the variable names.
func checkPeers(m *manifest) (map[edge]bool, []string) {
	var bad []string
	edges := map[edge]bool{}
	for _, in := range m.instances() {
		w, c := in.w, in.c
		{
			for _, ev := range c.Env {
				if !strings.HasSuffix(ev.Name, "_ADDR") || ev.Name == "LISTEN_ADDR" || ev.Name == "ADMIN_ADDR" {
					continue
				}
				add := func(format string, a ...any) {
					bad = append(bad, fmt.Sprintf("%s: env %s=%q: %s", w, ev.Name, ev.Value, fmt.Sprintf(format, a...)))
				}
				host, portStr, err := net.SplitHostPort(ev.Value)
				if err != nil {
					add("not host:port")
					continue
				}
				for _, suffix := range []string{".svc.cluster.local", ".svc", "." + namespace} {
					host = strings.TrimSuffix(host, suffix)
				}
				svc := m.services[host]
				if svc == nil {
					add("names no rendered Service")
					continue
				}
				port, _ := strconv.Atoi(portStr)
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
					add("Service %s has no port %s", svc.Name, portStr)
					continue
				}
				target := svc.Spec.Selector[componentLabel]
				if want := strings.ToLower(strings.TrimSuffix(ev.Name, "_ADDR")); target != want {
					add("Service %s serves %q, not %q", svc.Name, target, want)
				}
				edges[edge{in.comp, target}] = true
			}
		}
	}
	return edges, bad
}

// ingressRules returns the ingress rules of the NetworkPolicies that
// select workload w's pods and cover port.
func ingressRules(m *manifest, w workload, port corev1.ContainerPort) []networkingv1.NetworkPolicyIngressRule {
	var out []networkingv1.NetworkPolicyIngressRule
	for _, np := range m.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(w.labels)) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			if coversPort(rule, port) {
				out = append(out, rule)
			}
		}
	}
	return out
}

// coversPort reports whether rule applies to port: it lists no ports, or
// one of the port's protocol that names it, numbers it or spans it.
func coversPort(rule networkingv1.NetworkPolicyIngressRule, port corev1.ContainerPort) bool {
	if len(rule.Ports) == 0 {
		return true
	}
	for _, rp := range rule.Ports {
		if rp.Protocol != nil && *rp.Protocol != port.Protocol && !(port.Protocol == "" && *rp.Protocol == corev1.ProtocolTCP) {
			continue
		}
		switch {
		case rp.Port == nil,
			rp.Port.Type == intstr.String && rp.Port.StrVal == port.Name,
			rp.Port.Type == intstr.Int && rp.Port.IntVal == port.ContainerPort,
			rp.Port.Type == intstr.Int && rp.EndPort != nil && rp.Port.IntVal <= port.ContainerPort && port.ContainerPort <= *rp.EndPort:
			return true
		}
	}
	return false
}

// allowedSources lists who the NetworkPolicies admit to a port of a
// workload's pods: component names of this release's Deployments, "anyone"
// for a rule without sources, or a description of other sources.
func allowedSources(m *manifest, w workload, port corev1.ContainerPort) map[string]bool {
	out := map[string]bool{}
	for _, rule := range ingressRules(m, w, port) {
		if len(rule.From) == 0 {
			out["anyone"] = true
		}
		for _, peer := range rule.From {
			switch {
			case peer.IPBlock != nil:
				out["ipBlock "+peer.IPBlock.CIDR] = true
				continue
			case peer.NamespaceSelector != nil:
				out["namespaces "+metav1.FormatLabelSelector(peer.NamespaceSelector)] = true
				continue
			case peer.PodSelector == nil:
				out["invalid peer"] = true
				continue
			}
			psel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
			if err != nil {
				out["invalid selector"] = true
				continue
			}
			matched := false
			for _, src := range selected(m, psel) {
				if src.kind == "Deployment" {
					out[src.component()] = true
					matched = true
				}
			}
			if !matched {
				out[fmt.Sprintf("pods matching %v", peer.PodSelector.MatchLabels)] = true
			}
		}
	}
	return out
}

// admits reports whether the NetworkPolicies let pods with the labels src
// (in the release's namespace) connect to port of workload w.
func admits(m *manifest, w workload, port corev1.ContainerPort, src map[string]string) bool {
	for _, rule := range ingressRules(m, w, port) {
		if len(rule.From) == 0 {
			return true
		}
		for _, peer := range rule.From {
			if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil {
				continue
			}
			if psel, err := metav1.LabelSelectorAsSelector(peer.PodSelector); err == nil && psel.Matches(labels.Set(src)) {
				return true
			}
		}
	}
	return false
}

// checkTestPods: the `helm test` pods ask a URL of a rendered Service, and
// the NetworkPolicies let them.
func checkTestPods(m *manifest, policies bool) []string {
	var bad []string
	for _, p := range m.pods {
		if p.Annotations["helm.sh/hook"] != "test" {
			bad = append(bad, fmt.Sprintf("Pod %s is not a helm test hook", p.Name))
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, arg := range c.Args {
				u, err := url.Parse(arg)
				if err != nil || u.Host == "" {
					continue
				}
				svc := m.services[u.Hostname()]
				if svc == nil {
					bad = append(bad, fmt.Sprintf("Pod %s asks %s, which is no rendered Service", p.Name, arg))
					continue
				}
				var sp *corev1.ServicePort
				for i := range svc.Spec.Ports {
					if strconv.Itoa(int(svc.Spec.Ports[i].Port)) == u.Port() {
						sp = &svc.Spec.Ports[i]
					}
				}
				if sp == nil {
					bad = append(bad, fmt.Sprintf("Pod %s asks %s: Service %s has no port %s", p.Name, arg, svc.Name, u.Port()))
					continue
				}
				if !policies {
					continue
				}
				for _, w := range selected(m, labels.SelectorFromSet(svc.Spec.Selector)) {
					for _, wc := range w.spec.Containers {
						for _, cp := range wc.Ports {
							if (sp.TargetPort.Type == intstr.String && cp.Name == sp.TargetPort.StrVal || sp.TargetPort.Type == intstr.Int && cp.ContainerPort == sp.TargetPort.IntVal) && !admits(m, w, cp, p.Labels) {
								bad = append(bad, fmt.Sprintf("Pod %s asks %s, but the NetworkPolicies of %s do not admit it", p.Name, arg, w))
							}
						}
					}
				}
			}
		}
	}
	return bad
}

func checkNetworkPolicies(m *manifest, edges map[edge]bool, jwksReaders map[string]bool) []string {
	var bad []string
	if len(m.netpols) == 0 {
		return []string{"no NetworkPolicy is rendered"}
	}
	for _, np := range m.netpols {
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			bad = append(bad, fmt.Sprintf("NetworkPolicy %s does not restrict ingress", np.Name))
		}
	}
	for _, w := range m.workloads {
		isolated := slices.ContainsFunc(m.netpols, func(np *networkingv1.NetworkPolicy) bool {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			return err == nil && sel.Matches(labels.Set(w.labels)) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		})
		if !isolated {
			bad = append(bad, fmt.Sprintf("%s: no NetworkPolicy selects its pods, so anyone may connect to them", w))
		}
		if w.kind != "Deployment" {
			continue
		}
		comp := w.component()
		for _, c := range w.spec.Containers {
			for _, p := range c.Ports {
				got := allowedSources(m, w, p)
				add := func(format string, a ...any) {
					bad = append(bad, fmt.Sprintf("%s port %s: %s", w, p.Name, fmt.Sprintf(format, a...)))
				}
				// The all-in-one container names the services' ports by
				// number: admin-9101, grpc-50051.
				isMetrics := p.Name == "metrics" || strings.HasPrefix(p.Name, "admin-")
				isUserAdmin := comp == "user" && p.Name == "metrics" || comp == allInOneComponent && p.ContainerPort == wantPorts["user"].metrics
				switch {
				case isMetrics || (comp == "gateway" || comp == allInOneComponent) && p.Name == "http":
					if len(got) == 0 {
						add("no NetworkPolicy admits anyone")
					}
					// The key set is read from here: its readers must be
					// admitted by name, not by a metricsFrom that a
					// profile may narrow to the monitoring namespace.
					if isUserAdmin {
						for r := range jwksReaders {
							if !got[r] {
								add("does not admit %s, which reads the signing keys' public half here", r)
							}
						}
					}
				case p.Name == "grpc" || strings.HasPrefix(p.Name, "grpc-"):
					var fromEnv []string
					for e := range edges {
						if e.to == comp {
							fromEnv = append(fromEnv, e.from)
						}
					}
					sort.Strings(fromEnv)
					var admitted []string
					for s := range got {
						admitted = append(admitted, s)
					}
					sort.Strings(admitted)
					if !reflect.DeepEqual(admitted, fromEnv) {
						add("admitted %v, but the callers with an address of it are %v", admitted, fromEnv)
					}
					if !reflect.DeepEqual(admitted, wantCallers[comp]) {
						add("admitted %v, want exactly its callers %v", admitted, wantCallers[comp])
					}
				default:
					if len(got) > 0 {
						add("admitted %v to a port nobody needs", got)
					}
				}
			}
		}
	}
	return bad
}

// The port matching that both allowedSources and admits rely on.
func TestCoversPort(t *testing.T) {
	grpc := corev1.ContainerPort{Name: "grpc", ContainerPort: 50051}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	num := func(n int32) *intstr.IntOrString { p := intstr.FromInt32(n); return &p }
	name := func(s string) *intstr.IntOrString { p := intstr.FromString(s); return &p }
	end := int32(50060)
	for _, c := range []struct {
		name  string
		ports []networkingv1.NetworkPolicyPort
		want  bool
	}{
		{"no ports: all of them", nil, true},
		{"by name", []networkingv1.NetworkPolicyPort{{Port: name("grpc")}}, true},
		{"another name", []networkingv1.NetworkPolicyPort{{Port: name("metrics")}}, false},
		{"by number", []networkingv1.NetworkPolicyPort{{Port: num(50051)}}, true},
		{"another number", []networkingv1.NetworkPolicyPort{{Port: num(50052)}}, false},
		{"in a range", []networkingv1.NetworkPolicyPort{{Port: num(50050), EndPort: &end}}, true},
		{"any port of TCP", []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}, true},
		{"the number over UDP", []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: num(50051)}}, false},
		{"one of two", []networkingv1.NetworkPolicyPort{{Port: name("metrics")}, {Port: num(50051)}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := coversPort(networkingv1.NetworkPolicyIngressRule{Ports: c.ports}, grpc); got != c.want {
				t.Errorf("coversPort(%v) = %v, want %v", c.ports, got, c.want)
			}
		})
	}
}
