package charttest

import (
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func checkDeployments(m *manifest) []string {
	var bad []string
	seen := map[string]int{}
	for _, d := range m.deployments {
		add := func(format string, a ...any) { bad = append(bad, "Deployment "+d.Name+": "+fmt.Sprintf(format, a...)) }
		comp := d.Spec.Template.Labels[componentLabel]
		w := workload{"Deployment", d.Name, d.Spec.Template.Labels, d.Annotations, &d.Spec.Template.Spec}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			add("selector %v does not select its own pod template", d.Spec.Selector)
		}
		if _, ok := wantPorts[comp]; !ok && comp != allInOneComponent {
			add("component %q is not one of kassa's", comp)
		}
		for _, in := range instancesOf(w) {
			seen[in.comp]++
			want, ok := wantPorts[in.comp]
			if !ok {
				continue
			}
			ps := &d.Spec.Template.Spec
			// One container holds the five components' ports in the
			// all-in-one profile, so only the gateway's keep their names.
			named := comp != allInOneComponent || in.comp == "gateway"
			if named && !podDeclaresPort(ps, intstr.FromString(want.name), "") || !podDeclaresPort(ps, intstr.FromInt32(want.port), "") {
				add("does not declare port %s %d of %s", want.name, want.port, in.comp)
			}
			if named && !podDeclaresPort(ps, intstr.FromString("metrics"), "") || !podDeclaresPort(ps, intstr.FromInt32(want.metrics), "") {
				add("does not declare port metrics %d of %s", want.metrics, in.comp)
			}
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			bad = append(bad, checkDrain(d, c)...)
			probes := []struct {
				kind  string
				probe *corev1.Probe
			}{{"liveness", c.LivenessProbe}, {"readiness", c.ReadinessProbe}, {"startup", c.StartupProbe}}
			for _, p := range probes {
				if p.probe == nil {
					if p.kind != "startup" {
						add("container %s has no %s probe", c.Name, p.kind)
					}
					continue
				}
				h := p.probe.ProbeHandler
				switch {
				case h.GRPC != nil:
					if !declaresPort(c, intstr.FromInt32(h.GRPC.Port), "") {
						add("container %s: %s probe on undeclared port %d", c.Name, p.kind, h.GRPC.Port)
					}
				case h.HTTPGet != nil:
					if !declaresPort(c, h.HTTPGet.Port, "") {
						add("container %s: %s probe on undeclared port %s", c.Name, p.kind, h.HTTPGet.Port.String())
					}
				case h.TCPSocket != nil:
					if !declaresPort(c, h.TCPSocket.Port, "") {
						add("container %s: %s probe on undeclared port %s", c.Name, p.kind, h.TCPSocket.Port.String())
					}
				default:
					add("container %s: %s probe is neither gRPC, HTTP nor TCP (the image has no shell)", c.Name, p.kind)
				}
			}
			// The kinds of probe the issue asks for; the all-in-one process
			// is probed as its gateway, which starts last and stops first.
			if comp == "gateway" || comp == allInOneComponent {
				if c.LivenessProbe != nil && (c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz") ||
					comp == allInOneComponent && (c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Port != intstr.FromString("metrics")) {
					add("container %s: liveness probe is not HTTP /healthz", c.Name)
				}
				if c.ReadinessProbe != nil && (c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz") {
					add("container %s: readiness probe is not HTTP /readyz", c.Name)
				}
			} else {
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
					if p != nil && p.GRPC == nil {
						add("container %s: probes of a service must be native gRPC probes", c.Name)
						break
					}
				}
				// The overall health status follows the database; liveness
				// must not, or a database outage restarts every pod.
				if p := c.LivenessProbe; p != nil && p.GRPC != nil && (p.GRPC.Service == nil || *p.GRPC.Service != "liveness") {
					add("container %s: liveness probe must ask the gRPC health service \"liveness\", not the database-bound overall status", c.Name)
				}
			}
		}
	}
	for comp := range wantPorts {
		if seen[comp] != 1 {
			bad = append(bad, fmt.Sprintf("component %s runs in %d Deployments, want 1", comp, seen[comp]))
		}
	}
	return bad
}

// checkDrain: a container stops taking calls only after its endpoints are
// gone, so it needs a preStop delay (the native sleep action: the image has
// no shell), and the grace period must cover that delay plus the time the
// process lets in-flight calls finish after SIGTERM (SHUTDOWN_TIMEOUT),
// else the kubelet kills it mid-call.
func checkDrain(d *appsv1.Deployment, c corev1.Container) []string {
	add := func(format string, a ...any) string {
		return "Deployment " + d.Name + ": container " + c.Name + ": " + fmt.Sprintf(format, a...)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		return []string{add("has no preStop sleep, so it may stop taking calls while endpoints still send them")}
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	var shutdown time.Duration
	for _, e := range c.Env {
		if e.Name == "SHUTDOWN_TIMEOUT" {
			var err error
			if shutdown, err = time.ParseDuration(e.Value); err != nil {
				return []string{add("SHUTDOWN_TIMEOUT %q: %v", e.Value, err)}
			}
		}
	}
	if shutdown == 0 {
		return []string{add("sets no SHUTDOWN_TIMEOUT")}
	}
	grace := 30 * time.Second // the Kubernetes default
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= sleep+shutdown {
		return []string{add("terminationGracePeriodSeconds %v does not exceed preStop %v + SHUTDOWN_TIMEOUT %v", grace, sleep, shutdown)}
	}
	return nil
}

func checkScaling(m *manifest, e expectations) []string {
	var bad []string
	hpaFor := map[string]bool{}
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		var target *appsv1.Deployment
		for _, d := range m.deployments {
			if ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && d.Name == ref.Name {
				target = d
			}
		}
		if target == nil {
			bad = append(bad, fmt.Sprintf("HorizontalPodAutoscaler %s: target %s %s is not rendered", h.Name, ref.Kind, ref.Name))
			continue
		}
		hpaFor[target.Name] = true
		if target.Spec.Replicas != nil {
			bad = append(bad, fmt.Sprintf("Deployment %s sets replicas although an HPA scales it (every upgrade would reset it)", target.Name))
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			bad = append(bad, fmt.Sprintf("HorizontalPodAutoscaler %s: minReplicas missing or above maxReplicas", h.Name))
		}
	}
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			bad = append(bad, fmt.Sprintf("PodDisruptionBudget %s: no selector", p.Name))
			continue
		}
		n := 0
		for _, w := range selected(m, sel) {
			if w.kind == "Deployment" {
				n++
			} else {
				bad = append(bad, fmt.Sprintf("PodDisruptionBudget %s selects %s", p.Name, w))
			}
		}
		if n != 1 {
			bad = append(bad, fmt.Sprintf("PodDisruptionBudget %s selects %d Deployments, want 1", p.Name, n))
		}
	}
	if e.podDisruptionBudgets {
		for _, d := range m.deployments {
			covered := slices.ContainsFunc(m.pdbs, func(p *policyv1.PodDisruptionBudget) bool {
				sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				return err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels))
			})
			if !covered {
				bad = append(bad, fmt.Sprintf("Deployment %s has no PodDisruptionBudget", d.Name))
			}
		}
	} else if len(m.pdbs) > 0 {
		bad = append(bad, "podDisruptionBudget.enabled is false but PodDisruptionBudgets are rendered")
	}
	return bad
}
