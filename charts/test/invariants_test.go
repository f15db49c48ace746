package charttest

import (
	"fmt"
	"slices"
	"sort"

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

// The deployment facts the code fixes (boot.Spec in cmd/<svc>/main.go,
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
	allInOne                bool   // mode allinone: one Deployment runs every component
}

func expectationsFor(v values) expectations {
	e := expectations{
		externalSecrets:         map[string]bool{},
		externalServiceAccounts: map[string]bool{"default": true},
		networkPolicies:         v.bool("networkPolicy.enabled"),
		podDisruptionBudgets:    v.bool("podDisruptionBudget.enabled"),
		migrations:              v.string("migrations.mode"),
		allInOne:                v.string("mode") == "allinone",
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
	bad = append(bad, checkIngresses(m)...)
	bad = append(bad, checkAllInOne(m, e.allInOne)...)
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
