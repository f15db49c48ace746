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
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// componentLabel names a pod's kassa component.
const componentLabel = "app.kubernetes.io/component"

// The deployment facts the code fixes (service.Spec in cmd/<svc>/main.go,
// the gateway's defaults): the public port's name and number and the admin
// (metrics) port of each component.
var wantPorts = map[string]struct {
	name          string
	port, metrics int32
}{
	"gateway":      {"http", 8080, 9100},
	"user":         {"grpc", 50051, 9101},
	"billing":      {"grpc", 50052, 9102},
	"order":        {"grpc", 50053, 9103},
	"notification": {"grpc", 50054, 9104},
}

// wantCallers is who calls whom in the code: the only pods a service's
// NetworkPolicy may admit to its gRPC port.
var wantCallers = map[string][]string{
	"user":         {"gateway", "notification", "order"},
	"billing":      {"gateway", "notification", "order", "user"},
	"order":        {"gateway"},
	"notification": {"gateway", "order"},
}

// expectations are the facts of a values profile the invariants need.
type expectations struct {
	externalSecrets         map[string]bool // Secrets the user creates, not the chart
	externalServiceAccounts map[string]bool
	networkPolicies         bool
	podDisruptionBudgets    bool
	migrations              string // job, initContainer or none
	signingKeysSecret       string // the Secret of the user service's private keys
	clientsSecret           string // the Secret of the order and notification services' client credentials
}

func expectationsFor(v values) expectations {
	e := expectations{
		externalSecrets:         map[string]bool{},
		externalServiceAccounts: map[string]bool{"default": true},
		networkPolicies:         v.bool("networkPolicy.enabled"),
		podDisruptionBudgets:    v.bool("podDisruptionBudget.enabled"),
		migrations:              v.string("migrations.mode"),
	}
	if !v.bool("database.cloudnativepg.enabled") && !v.bool("database.secret.create") {
		name := v.string("database.secret.name")
		if name == "" {
			name = releaseName + "-database"
		}
		e.externalSecrets[name] = true
	}
	// extraVolumes name Secrets the operator made (a database CA).
	if vols, ok := v.get("extraVolumes").([]any); ok {
		for _, vol := range vols {
			if name := (values{"v": vol}).string("v.secret.secretName"); name != "" {
				e.externalSecrets[name] = true
			}
		}
	}
	e.signingKeysSecret, e.clientsSecret = v.string("auth.signingKeysSecret"), v.string("auth.clientsSecret")
	if e.signingKeysSecret != "" {
		e.externalSecrets[e.signingKeysSecret] = true
	} else {
		e.signingKeysSecret = releaseName + "-signing-keys"
	}
	if e.clientsSecret != "" {
		e.externalSecrets[e.clientsSecret] = true
	} else {
		e.clientsSecret = releaseName + "-auth-clients"
	}
	if !v.bool("serviceAccount.create") && v.string("serviceAccount.name") != "" {
		e.externalServiceAccounts[v.string("serviceAccount.name")] = true
	}
	return e
}

// workload is anything that makes pods: a Deployment, a Job or a Pod.
type workload struct {
	kind, name  string
	labels      map[string]string // of the pods
	annotations map[string]string // of the workload object (hooks)
	spec        *corev1.PodSpec
}

func (w workload) String() string { return w.kind + " " + w.name }

func (w workload) component() string { return w.labels[componentLabel] }

type manifest struct {
	deployments []*appsv1.Deployment
	services    map[string]*corev1.Service
	jobs        []*batchv1.Job
	pods        []*corev1.Pod
	secrets     map[string]*corev1.Secret
	accounts    map[string]bool
	netpols     []*networkingv1.NetworkPolicy
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	ingresses   []*networkingv1.Ingress
	clusters    map[string]*cnpgCluster
	databases   []*cnpgDatabase
	monitors    []*serviceMonitor
	rules       []*prometheusRule
	configMaps  []*corev1.ConfigMap
	workloads   []workload
}

func index(objs []*object) (*manifest, []string) {
	m := &manifest{services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{},
		accounts: map[string]bool{}, clusters: map[string]*cnpgCluster{}}
	var bad []string
	seen := map[string]bool{}
	for _, o := range objs {
		key := o.Kind + "/" + o.Name
		if seen[key] {
			bad = append(bad, fmt.Sprintf("%s %s is rendered twice", o.Kind, o.Name))
		}
		seen[key] = true
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, v)
			m.workloads = append(m.workloads, workload{"Deployment", v.Name, v.Spec.Template.Labels, v.Annotations, &v.Spec.Template.Spec})
		case *batchv1.Job:
			m.jobs = append(m.jobs, v)
			m.workloads = append(m.workloads, workload{"Job", v.Name, v.Spec.Template.Labels, v.Annotations, &v.Spec.Template.Spec})
		case *corev1.Pod:
			m.pods = append(m.pods, v)
			m.workloads = append(m.workloads, workload{"Pod", v.Name, v.Labels, v.Annotations, &v.Spec})
		case *corev1.Service:
			m.services[v.Name] = v
		case *corev1.Secret:
			m.secrets[v.Name] = v
		case *corev1.ServiceAccount:
			m.accounts[v.Name] = true
		case *networkingv1.NetworkPolicy:
			m.netpols = append(m.netpols, v)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, v)
		case *networkingv1.Ingress:
			m.ingresses = append(m.ingresses, v)
		case *cnpgCluster:
			m.clusters[v.Name] = v
		case *cnpgDatabase:
			m.databases = append(m.databases, v)
		case *serviceMonitor:
			m.monitors = append(m.monitors, v)
		case *prometheusRule:
			m.rules = append(m.rules, v)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, v)
		}
	}
	return m, bad
}

// check returns every violated invariant of the rendered objects, sorted;
// none means the chart is fine.
func check(objs []*object, e expectations) []string {
	m, bad := index(objs)
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }

	bad = append(bad, checkNames(objs)...)
	for _, w := range m.workloads {
		bad = append(bad, checkPod(m, w, e)...)
	}
	bad = append(bad, checkDeployments(m)...)
	bad = append(bad, checkServices(m)...)
	edges, more := checkPeers(m)
	bad = append(bad, more...)
	jwksReaders, more := checkAuth(m, e)
	bad = append(bad, more...)
	if e.networkPolicies {
		bad = append(bad, checkNetworkPolicies(m, edges, jwksReaders)...)
	} else if len(m.netpols) > 0 {
		add("networkPolicy.enabled is false but %d NetworkPolicies are rendered", len(m.netpols))
	}
	bad = append(bad, checkTestPods(m, e.networkPolicies)...)
	bad = append(bad, checkMigrations(m, e.migrations)...)
	bad = append(bad, checkDatabases(m)...)
	bad = append(bad, checkScaling(m, e)...)
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
	sort.Strings(bad)
	return slices.Compact(bad)
}

func checkNames(objs []*object) []string {
	var bad []string
	for _, o := range objs {
		errs := validation.IsDNS1123Subdomain(o.Name)
		if o.Kind == "Service" {
			errs = validation.IsDNS1035Label(o.Name)
		}
		for _, err := range errs {
			bad = append(bad, fmt.Sprintf("%s %s: bad name: %s", o.Kind, o.Name, err))
		}
		meta := o.Obj.(metav1.Object)
		for k, v := range meta.GetLabels() {
			for _, err := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				bad = append(bad, fmt.Sprintf("%s %s: bad label %s=%s: %s", o.Kind, o.Name, k, v, err))
			}
		}
	}
	return bad
}

// checkPod: hardening, resources, images, environment and references of
// every container of a pod (init containers and Jobs included).
func checkPod(m *manifest, w workload, e expectations) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, w.String()+": "+fmt.Sprintf(format, a...)) }
	ps := w.spec
	psc := ps.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		add("pod securityContext.runAsNonRoot is not true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add("pod runs as user 0")
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		add("automountServiceAccountToken is not false (kassa never calls the Kubernetes API)")
	}
	if sa := ps.ServiceAccountName; sa != "" && !m.accounts[sa] && !e.externalServiceAccounts[sa] {
		add("ServiceAccount %s is neither rendered nor an existing one the values name", sa)
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		add("shares a host namespace")
	}
	containers := append(append([]corev1.Container{}, ps.InitContainers...), ps.Containers...)
	if len(ps.Containers) == 0 {
		add("no containers")
	}
	volumes := map[string]bool{}
	for _, v := range ps.Volumes {
		volumes[v.Name] = true
		if v.Secret == nil {
			continue
		}
		if len(v.Secret.Items) == 0 {
			if err := secretExists(m, e, v.Secret.SecretName, ""); err != "" {
				add("volume %s: %s", v.Name, err)
			}
		}
		for _, it := range v.Secret.Items {
			if err := secretExists(m, e, v.Secret.SecretName, it.Key); err != "" {
				add("volume %s: %s", v.Name, err)
			}
		}
	}
	for _, c := range containers {
		cadd := func(format string, a ...any) { add("container %s: %s", c.Name, fmt.Sprintf(format, a...)) }
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				cadd("mounts volume %s, which the pod does not declare", vm.Name)
			}
		}
		// Resources: requests and limits of CPU and memory.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if !hasReq || req.IsZero() {
				cadd("no %s request", r)
			}
			if !hasLim || lim.IsZero() {
				cadd("no %s limit", r)
			}
			if hasReq && hasLim && req.Cmp(lim) > 0 {
				cadd("%s request %s exceeds its limit %s", r, req.String(), lim.String())
			}
		}
		// securityContext.
		sc := c.SecurityContext
		if sc == nil {
			cadd("no securityContext")
			continue
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil && psc != nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			cadd("runAsNonRoot is not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			cadd("runs as user 0")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			cadd("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			cadd("allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			cadd("privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			cadd("capabilities do not drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			cadd("adds capabilities %v", sc.Capabilities.Add)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil && psc != nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			cadd("seccompProfile is not RuntimeDefault")
		}
		// The image: a tag or digest, never :latest.
		if c.Image == "" {
			cadd("no image")
		} else if ref := c.Image[strings.LastIndex(c.Image, "/")+1:]; !strings.Contains(ref, ":") && !strings.Contains(ref, "@") || strings.HasSuffix(ref, ":latest") {
			cadd("image %s has no pinned tag", c.Image)
		}
		// The image has no shell: commands are the binaries themselves.
		if len(c.Command) == 0 || !strings.HasPrefix(c.Command[0], "/usr/local/bin/") {
			cadd("command %v is not one of the image's binaries (/usr/local/bin/...)", c.Command)
		}
		// Environment: valid, unique names; Secrets that will exist.
		names := map[string]bool{}
		for _, ev := range c.Env {
			for _, err := range validation.IsEnvVarName(ev.Name) {
				cadd("env %s: %s", ev.Name, err)
			}
			if names[ev.Name] {
				cadd("env %s is set twice", ev.Name)
			}
			names[ev.Name] = true
			if ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil {
				ref := ev.ValueFrom.SecretKeyRef
				if err := secretExists(m, e, ref.Name, ref.Key); err != "" {
					cadd("env %s: %s", ev.Name, err)
				}
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				if err := secretExists(m, e, ef.SecretRef.Name, ""); err != "" {
					cadd("envFrom: %s", err)
				}
			}
		}
	}
	return bad
}

// secretExists reports why a Secret reference would not resolve, or "".
func secretExists(m *manifest, e expectations, name, key string) string {
	if s := m.secrets[name]; s != nil {
		_, inData := s.Data[key]
		_, inString := s.StringData[key]
		if key != "" && !inData && !inString {
			return fmt.Sprintf("Secret %s has no key %q", name, key)
		}
		return ""
	}
	for cluster := range m.clusters {
		if name == cluster+"-app" { // made by the CloudNativePG operator
			if key != "" && !slices.Contains([]string{"username", "password", "uri", "host", "port", "dbname", "pgpass", "jdbc-uri"}, key) {
				return fmt.Sprintf("the operator's Secret %s has no key %q", name, key)
			}
			return ""
		}
	}
	if e.externalSecrets[name] {
		return ""
	}
	return fmt.Sprintf("Secret %s is neither rendered nor the external Secret the values name", name)
}

func declaresPort(c corev1.Container, port intstr.IntOrString, protocol corev1.Protocol) bool {
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	for _, p := range c.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if pp != protocol {
			continue
		}
		if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

func podDeclaresPort(ps *corev1.PodSpec, port intstr.IntOrString, protocol corev1.Protocol) bool {
	return slices.ContainsFunc(ps.Containers, func(c corev1.Container) bool { return declaresPort(c, port, protocol) })
}

func checkDeployments(m *manifest) []string {
	var bad []string
	seen := map[string]int{}
	for _, d := range m.deployments {
		add := func(format string, a ...any) { bad = append(bad, "Deployment "+d.Name+": "+fmt.Sprintf(format, a...)) }
		comp := d.Spec.Template.Labels[componentLabel]
		seen[comp]++
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			add("selector %v does not select its own pod template", d.Spec.Selector)
		}
		if want, ok := wantPorts[comp]; ok {
			ps := &d.Spec.Template.Spec
			if !podDeclaresPort(ps, intstr.FromString(want.name), "") || !podDeclaresPort(ps, intstr.FromInt32(want.port), "") {
				add("does not declare port %s %d", want.name, want.port)
			}
			if !podDeclaresPort(ps, intstr.FromString("metrics"), "") || !podDeclaresPort(ps, intstr.FromInt32(want.metrics), "") {
				add("does not declare port metrics %d", want.metrics)
			}
		} else {
			add("component %q is not one of kassa's", comp)
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
			// The kinds of probe the issue asks for.
			if comp == "gateway" {
				if c.LivenessProbe != nil && (c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz") {
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
			bad = append(bad, fmt.Sprintf("component %s has %d Deployments, want 1", comp, seen[comp]))
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

// selected returns the workloads whose pods a label set selector picks.
func selected(m *manifest, sel labels.Selector) []workload {
	var out []workload
	for _, w := range m.workloads {
		if sel.Matches(labels.Set(w.labels)) {
			out = append(out, w)
		}
	}
	return out
}

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

// edge is a peer address: component from dials component to.
type edge struct{ from, to string }

// checkPeers: every *_ADDR of a container names a rendered Service and one
// of its ports, and the Service is the component the variable names.
func checkPeers(m *manifest) (map[edge]bool, []string) {
	var bad []string
	edges := map[edge]bool{}
	for _, w := range m.workloads {
		if w.kind != "Deployment" {
			continue
		}
		for _, c := range w.spec.Containers {
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
				edges[edge{w.component(), target}] = true
			}
		}
	}
	return edges, bad
}

// allowedSources lists who the NetworkPolicies admit to a port of a
// workload's pods: component names of this release's Deployments, "anyone"
// for a rule without sources, or a description of other sources.
func allowedSources(m *manifest, w workload, port corev1.ContainerPort) map[string]bool {
	out := map[string]bool{}
	for _, np := range m.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(w.labels)) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			covers := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				if rp.Protocol != nil && *rp.Protocol != port.Protocol && !(port.Protocol == "" && *rp.Protocol == corev1.ProtocolTCP) {
					continue
				}
				switch {
				case rp.Port == nil:
					covers = true
				case rp.Port.Type == intstr.String && rp.Port.StrVal == port.Name:
					covers = true
				case rp.Port.Type == intstr.Int && rp.Port.IntVal == port.ContainerPort:
					covers = true
				case rp.Port.Type == intstr.Int && rp.EndPort != nil && rp.Port.IntVal <= port.ContainerPort && port.ContainerPort <= *rp.EndPort:
					covers = true
				}
			}
			if !covers {
				continue
			}
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
	}
	return out
}

// admits reports whether the NetworkPolicies let pods with the labels src
// (in the release's namespace) connect to port of workload w.
func admits(m *manifest, w workload, port corev1.ContainerPort, src map[string]string) bool {
	for _, np := range m.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(w.labels)) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			covers := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				covers = covers || rp.Port == nil || rp.Port.Type == intstr.String && rp.Port.StrVal == port.Name || rp.Port.Type == intstr.Int && rp.Port.IntVal == port.ContainerPort
			}
			if !covers {
				continue
			}
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
				switch {
				case p.Name == "metrics" || comp == "gateway" && p.Name == "http":
					if len(got) == 0 {
						add("no NetworkPolicy admits anyone")
					}
					// The key set is read from here: its readers must be
					// admitted by name, not by a metricsFrom that a
					// profile may narrow to the monitoring namespace.
					if comp == "user" && p.Name == "metrics" {
						for r := range jwksReaders {
							if !got[r] {
								add("does not admit %s, which reads the signing keys' public half here", r)
							}
						}
					}
				case p.Name == "grpc":
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

func databaseURL(c corev1.Container) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == "DATABASE_URL" {
			return &c.Env[i]
		}
	}
	return nil
}

// checkMigrations: each service with a database is migrated by `<binary>
// migrate` against the same database, by a pre-upgrade hook Job or an init
// container. (On first install `serve` migrates too; the profiles' facts
// check when the Jobs also run before the install.)
func checkMigrations(m *manifest, mode string) []string {
	var bad []string
	runs := func(c corev1.Container, binary string, db *corev1.EnvVar) bool {
		got := databaseURL(c)
		return len(c.Command) > 0 && c.Command[0] == binary && slices.Equal(c.Args, []string{"migrate"}) && got != nil && reflect.DeepEqual(*got, *db)
	}
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			db := databaseURL(c)
			if db == nil || len(c.Command) == 0 {
				continue
			}
			switch mode {
			case "initContainer":
				if !slices.ContainsFunc(d.Spec.Template.Spec.InitContainers, func(ic corev1.Container) bool { return runs(ic, c.Command[0], db) }) {
					bad = append(bad, fmt.Sprintf("Deployment %s: no init container runs %s migrate on its database", d.Name, c.Command[0]))
				}
			case "job":
				found := false
				for _, j := range m.jobs {
					hooks := strings.Split(j.Annotations["helm.sh/hook"], ",")
					if !slices.Contains(hooks, "pre-upgrade") {
						continue
					}
					if slices.ContainsFunc(j.Spec.Template.Spec.Containers, func(jc corev1.Container) bool { return runs(jc, c.Command[0], db) }) {
						found = true
					}
				}
				if !found {
					bad = append(bad, fmt.Sprintf("Deployment %s: no pre-upgrade hook Job runs %s migrate on its database", d.Name, c.Command[0]))
				}
			case "none":
			default:
				bad = append(bad, fmt.Sprintf("unknown migrations mode %q", mode))
			}
		}
	}
	if mode != "job" && len(m.jobs) > 0 {
		bad = append(bad, fmt.Sprintf("migrations mode %s, yet %d Jobs are rendered", mode, len(m.jobs)))
	}
	return bad
}

// checkDatabases: one database per service, and CloudNativePG databases
// that exist in a rendered cluster.
func checkDatabases(m *manifest) []string {
	var bad []string
	owner := map[string]string{} // database identity -> Deployment
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			db := databaseURL(c)
			if db == nil {
				continue
			}
			id := db.Value
			if db.ValueFrom != nil && db.ValueFrom.SecretKeyRef != nil {
				id = "secret " + db.ValueFrom.SecretKeyRef.Name + "/" + db.ValueFrom.SecretKeyRef.Key
				if s := m.secrets[db.ValueFrom.SecretKeyRef.Name]; s != nil {
					id = s.StringData[db.ValueFrom.SecretKeyRef.Key] + string(s.Data[db.ValueFrom.SecretKeyRef.Key])
				}
			}
			if other, ok := owner[id]; ok {
				bad = append(bad, fmt.Sprintf("Deployments %s and %s share the database %s", other, d.Name, id))
			}
			owner[id] = d.Name
			if db.Value == "" {
				continue
			}
			u, err := url.Parse(db.Value)
			if err != nil {
				bad = append(bad, fmt.Sprintf("Deployment %s: DATABASE_URL is not a URL: %v", d.Name, err))
				continue
			}
			for name, cl := range m.clusters {
				if u.Hostname() != name+"-rw" {
					continue
				}
				dbname := strings.TrimPrefix(u.Path, "/")
				ok := dbname == cl.Spec.Bootstrap.InitDB.Database
				for _, db := range m.databases {
					ok = ok || db.Spec.Cluster.Name == name && db.Spec.Name == dbname && db.Spec.Owner == cl.Spec.Bootstrap.InitDB.Owner
				}
				if !ok {
					bad = append(bad, fmt.Sprintf("Deployment %s: database %s is not created in cluster %s", d.Name, dbname, name))
				}
			}
		}
	}
	for _, db := range m.databases {
		if m.clusters[db.Spec.Cluster.Name] == nil {
			bad = append(bad, fmt.Sprintf("Database %s: cluster %s is not rendered", db.Name, db.Spec.Cluster.Name))
		}
	}
	return bad
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
