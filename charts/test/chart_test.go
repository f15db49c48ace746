// Package charttest renders the Helm chart charts/kassa with the pinned
// helm (tools/helm) for the default values and every values profile it
// ships, strictly decodes every object into its Kubernetes API type and
// checks the invariants in invariants_test.go. TestChecksBite shows that
// each invariant fails on a manifest that breaks it.
package charttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// shape is what a profile must render, beyond the invariants every profile
// meets: the number of objects of each kind, and profile-specific facts.
type shape struct {
	kinds map[string]int
	facts func(t *testing.T, m *manifest)
}

// Every profile the chart ships needs an entry: a new values file fails
// TestRender until its expected shape is written down here.
var shapes = map[string]shape{
	"default": {
		kinds: map[string]int{"ServiceAccount": 1, "Service": 5, "Deployment": 5, "Job": 4, "PodDisruptionBudget": 5, "NetworkPolicy": 6, "Pod": 1},
		facts: func(t *testing.T, m *manifest) {
			hooks(t, m, "pre-install,pre-upgrade")
			replicas(t, m, 2)
			dbSecret(t, m, "kassa-database")
			issuer(t, m, "http://kassa-gateway:8080")
		},
	},
	"values-kind.yaml": {
		kinds: map[string]int{"ServiceAccount": 1, "Service": 5, "Deployment": 5, "Job": 4, "NetworkPolicy": 6, "Pod": 1, "Cluster": 1, "Database": 3},
		facts: func(t *testing.T, m *manifest) {
			hooks(t, m, "pre-upgrade")
			replicas(t, m, 1)
			if c := m.clusters["kassa-db"]; c == nil || c.Spec.Instances != 1 || c.Spec.Bootstrap.InitDB.Database != "kassa_user" || c.Annotations["helm.sh/resource-policy"] != "" {
				t.Errorf("want the one-instance cluster kassa-db bootstrapped with kassa_user, deleted on uninstall, got %+v", c)
			}
			var names []string
			for _, db := range m.databases {
				names = append(names, db.Spec.Name)
			}
			slices.Sort(names)
			if want := []string{"kassa_billing", "kassa_notification", "kassa_order"}; !slices.Equal(names, want) {
				t.Errorf("CloudNativePG databases %v, want %v", names, want)
			}
		},
	},
	"values-production.yaml": {
		kinds: map[string]int{"ServiceAccount": 1, "Service": 5, "Deployment": 5, "Job": 4, "PodDisruptionBudget": 5, "NetworkPolicy": 6, "Pod": 1, "HorizontalPodAutoscaler": 5, "Ingress": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1},
		facts: func(t *testing.T, m *manifest) {
			hooks(t, m, "pre-install,pre-upgrade")
			dbSecret(t, m, "kassa-database")
			monitoring(t, m)
			issuer(t, m, "https://api.shop.example.com")
			if got := env(deploymentOf(t, m, "user").Spec.Template.Spec.Containers[0], "AUTH_ADMINS"); got != "" {
				t.Errorf("user AUTH_ADMINS = %q, want none: admin is granted per account by user grant-admin", got)
			}
			if ing := m.ingresses[0]; len(ing.Spec.TLS) == 0 || ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
				t.Errorf("want the Ingress with TLS and class nginx, got %+v", ing.Spec)
			}
		},
	},
	"ci/initcontainer-values.yaml": {
		kinds: map[string]int{"Secret": 2, "Service": 5, "Deployment": 5, "PodDisruptionBudget": 5, "NetworkPolicy": 6, "Pod": 1},
		facts: func(t *testing.T, m *manifest) {
			s := m.secrets["kassa-database"]
			if s == nil || len(s.StringData) != 4 {
				t.Errorf("want the chart-made Secret kassa-database with 4 URLs, got %+v", s)
			}
			clientsSecret(t, m, "kassa-auth-clients")
			issuer(t, m, "https://kassa.ci.example")
			for _, d := range m.deployments {
				want := map[string]string{"LOG_LEVEL": "debug", "CALL_TIMEOUT": "3s", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318"}
				switch d.Spec.Template.Labels[componentLabel] {
				case "gateway":
					want = map[string]string{"LOG_LEVEL": "warn", "CALL_TIMEOUT": "8s", "MAX_BODY_BYTES": "65536", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318"}
					if svc := m.services["kassa-gateway"]; svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
						t.Errorf("gateway Service type %s, want LoadBalancer", svc.Spec.Type)
					}
				case "user":
					want["REPAIR_INTERVAL"] = "5s"
					want["DEFAULT_CURRENCY"] = "EUR"
				}
				for k, v := range want {
					if got := env(d.Spec.Template.Spec.Containers[0], k); got != v {
						t.Errorf("Deployment %s: %s=%q, want %q", d.Name, k, got, v)
					}
				}
				if _, ok := d.Spec.Template.Annotations["checksum/database"]; !ok && d.Spec.Template.Labels[componentLabel] != "gateway" {
					t.Errorf("Deployment %s: no checksum/database annotation, so a changed Secret would not restart it", d.Name)
				}
				if d.Spec.Template.Spec.ServiceAccountName != "kassa-ci" {
					t.Errorf("Deployment %s: ServiceAccount %q, want the existing kassa-ci", d.Name, d.Spec.Template.Spec.ServiceAccountName)
				}
				if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
					return v.Name == "db-ca" && v.Secret != nil && v.Secret.SecretName == "db-ca"
				}) {
					t.Errorf("Deployment %s: volumes %v lack the db-ca Secret", d.Name, d.Spec.Template.Spec.Volumes)
				}
			}
		},
	},
}

// monitoring checks the prometheus-operator and Grafana objects: the
// ServiceMonitor scrapes the metrics port of every component's Service, the
// PrometheusRule carries the alert rules of files/alerts.yaml, and the
// dashboard ConfigMap holds valid dashboard JSON.
func monitoring(t *testing.T, m *manifest) {
	t.Helper()
	sm := m.monitors[0]
	selector, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	scraped := 0
	for _, svc := range m.services {
		if !selector.Matches(labels.Set(svc.Labels)) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == sm.Spec.Endpoints[0].Port {
				scraped++
			}
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" || scraped != len(m.deployments) {
		t.Errorf("ServiceMonitor scrapes %d Services' metrics ports (endpoints %+v), want all %d", scraped, sm.Spec.Endpoints, len(m.deployments))
	}
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v lack the profile's release label", sm.Labels)
	}
	alerts := 0
	for _, g := range m.rules[0].Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["runbook"] == "" {
				t.Errorf("rule %+v lacks an alert name, expression or runbook", r)
			}
			if !strings.Contains(r.Annotations["summary"], "{{") && strings.Contains(r.Annotations["summary"], "$labels") {
				t.Errorf("alert %s: Prometheus templates were rendered by Helm: %q", r.Alert, r.Annotations["summary"])
			}
			alerts++
		}
	}
	if alerts < 4 {
		t.Errorf("PrometheusRule has %d alerts, want the rules of files/alerts.yaml", alerts)
	}
	var dash struct {
		UID    string            `json:"uid"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal([]byte(m.configMaps[0].Data["kassa.json"]), &dash); err != nil || dash.UID == "" || len(dash.Panels) == 0 {
		t.Errorf("dashboard ConfigMap: uid %q, %d panels, %v", dash.UID, len(dash.Panels), err)
	}
	if m.configMaps[0].Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard", m.configMaps[0].Labels)
	}
}

// clientsSecret checks a chart-made clients Secret: the user service's
// entries are the SHA-256 of the order and notification services' own
// secrets, which differ.
func clientsSecret(t *testing.T, m *manifest, name string) {
	t.Helper()
	s := m.secrets[name]
	if s == nil {
		t.Fatalf("no Secret %s", name)
	}
	var want []string
	for _, client := range []string{"order", "notification"} {
		secret := s.StringData[client+"-client-secret"]
		if len(secret) != 64 {
			t.Errorf("Secret %s: %s-client-secret %q, want 64 hex digits", name, client, secret)
		}
		sum := sha256.Sum256([]byte(secret))
		want = append(want, client+"="+hex.EncodeToString(sum[:]))
	}
	if s.StringData["order-client-secret"] == s.StringData["notification-client-secret"] {
		t.Errorf("Secret %s: order and notification share a client secret", name)
	}
	if got := s.StringData["clients"]; got != strings.Join(want, ",") {
		t.Errorf("Secret %s: clients %q, want %q", name, got, strings.Join(want, ","))
	}
}

// issuer checks that every component has the issuer want.
func issuer(t *testing.T, m *manifest, want string) {
	t.Helper()
	for _, d := range m.deployments {
		if got := env(d.Spec.Template.Spec.Containers[0], "AUTH_ISSUER"); got != want {
			t.Errorf("Deployment %s: AUTH_ISSUER %q, want %q", d.Name, got, want)
		}
	}
}

func deploymentOf(t *testing.T, m *manifest, comp string) *appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Spec.Template.Labels[componentLabel] == comp {
			return d
		}
	}
	t.Fatalf("no Deployment of %s", comp)
	return nil
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func hooks(t *testing.T, m *manifest, want string) {
	t.Helper()
	for _, j := range m.jobs {
		if got := j.Annotations["helm.sh/hook"]; got != want {
			t.Errorf("Job %s: hook %q, want %q", j.Name, got, want)
		}
	}
}

func replicas(t *testing.T, m *manifest, want int32) {
	t.Helper()
	for _, d := range m.deployments {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
			t.Errorf("Deployment %s: replicas %v, want %d", d.Name, d.Spec.Replicas, want)
		}
	}
}

func dbSecret(t *testing.T, m *manifest, want string) {
	t.Helper()
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if db := databaseURL(c); db != nil && (db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil || db.ValueFrom.SecretKeyRef.Name != want) {
				t.Errorf("Deployment %s: DATABASE_URL is not read from the Secret %s", d.Name, want)
			}
		}
	}
}

func TestLint(t *testing.T) {
	for _, p := range profiles(t) {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, p.args()...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
		})
	}
}

func TestRender(t *testing.T) {
	ps := profiles(t)
	if len(ps) < 4 {
		t.Fatalf("found %d profiles (default, values-*.yaml, ci/*.yaml), want at least 4", len(ps))
	}
	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			sh, ok := shapes[p.name]
			if !ok {
				t.Fatalf("profile %s has no expected shape: add it to shapes", p.name)
			}
			out, err := render(p.args()...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decode(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range check(objs, expectationsFor(loadValues(t, p))) {
				t.Error(v)
			}
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.Kind]++
			}
			if fmt.Sprint(counts) != fmt.Sprint(sh.kinds) {
				t.Errorf("rendered %v, want %v", counts, sh.kinds)
			}
			m, _ := index(objs)
			sh.facts(t, m)
			t.Logf("%d objects, all invariants hold", len(objs))
		})
	}
}

// TestOptions: switches that no shipped profile sets still render objects
// that meet every invariant, and do what they say.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		sets  []string
		facts func(t *testing.T, m *manifest)
	}{
		{[]string{"networkPolicy.enabled=false"}, func(t *testing.T, m *manifest) {
			if len(m.netpols) != 0 {
				t.Errorf("%d NetworkPolicies rendered", len(m.netpols))
			}
		}},
		{[]string{"auth.signingKeysSecret=", "auth.signingKeys=not-a-real-key-set", "auth.clientsSecret=", "auth.orderClientSecret=" + strings.Repeat("0f", 32), "auth.notificationClientSecret=" + strings.Repeat("1e", 32), "auth.issuer=https://pay.example/"}, func(t *testing.T, m *manifest) {
			if s := m.secrets["kassa-signing-keys"]; s == nil || s.StringData["signing-keys.json"] != "not-a-real-key-set" {
				t.Errorf("want the chart-made Secret kassa-signing-keys with the inline key set, got %+v", s)
			}
			clientsSecret(t, m, "kassa-auth-clients")
			issuer(t, m, "https://pay.example")
			for _, comp := range []string{"user", "order", "notification"} {
				if _, ok := deploymentOf(t, m, comp).Spec.Template.Annotations["checksum/auth"]; !ok {
					t.Errorf("Deployment of %s: no checksum/auth annotation, so a changed key would not restart it", comp)
				}
			}
		}},
		{[]string{"migrations.mode=none"}, func(t *testing.T, m *manifest) {
			for _, d := range m.deployments {
				if len(m.jobs) != 0 || len(d.Spec.Template.Spec.InitContainers) != 0 {
					t.Errorf("migrations rendered: %d Jobs, init containers of %s: %d", len(m.jobs), d.Name, len(d.Spec.Template.Spec.InitContainers))
				}
			}
		}},
		{[]string{"database.cloudnativepg.enabled=true"}, func(t *testing.T, m *manifest) {
			hooks(t, m, "pre-upgrade")
			if c := m.clusters["kassa-db"]; c == nil || c.Annotations["helm.sh/resource-policy"] != "keep" || c.Spec.Instances != 3 {
				t.Errorf("want the 3-instance cluster kassa-db kept on uninstall, got %+v", c)
			}
		}},
		{[]string{"autoscaling.enabled=true", "gateway.autoscaling.maxReplicas=9"}, func(t *testing.T, m *manifest) {
			max := map[string]int32{}
			for _, h := range m.hpas {
				max[h.Spec.ScaleTargetRef.Name] = h.Spec.MaxReplicas
			}
			if want := map[string]int32{"kassa-user": 6, "kassa-billing": 6, "kassa-order": 6, "kassa-notification": 6, "kassa-gateway": 9}; fmt.Sprint(max) != fmt.Sprint(want) {
				t.Errorf("HPA maxReplicas %v, want %v", max, want)
			}
		}},
	} {
		t.Run(strings.Join(tc.sets, " "), func(t *testing.T) {
			t.Parallel()
			args := defaultProfile().args()
			for _, s := range tc.sets {
				args = append(args, "--set", s)
			}
			out, err := render(args...)
			if err != nil {
				t.Fatal(err)
			}
			objs := mustDecode(t, out)
			for _, v := range check(objs, expectationsFor(loadValues(t, defaultProfile(), tc.sets...))) {
				t.Error(v)
			}
			m, _ := index(objs)
			tc.facts(t, m)
		})
	}
	// With NetworkPolicies expected, their absence is a violation.
	out, err := render(append(defaultProfile().args(), "--set", "networkPolicy.enabled=false")...)
	if err != nil {
		t.Fatal(err)
	}
	if v := check(mustDecode(t, out), expectationsFor(loadValues(t, defaultProfile()))); !slices.Contains(v, "no NetworkPolicy is rendered") {
		t.Errorf("want the missing NetworkPolicies reported, got %v", v)
	}
}

// TestRefusals: values that cannot work stop the render with a message.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "auth.signingKeysSecret="}, "auth.signingKeysSecret is required"},
		{[]string{"--set", "auth.clientsSecret="}, "auth.clientsSecret is required"},
		{[]string{"--set", "auth.signingKeys=x"}, "set either auth.signingKeysSecret or auth.signingKeys, not both"},
		{[]string{"--set", "auth.orderClientSecret=" + strings.Repeat("ab", 32)}, "set either auth.clientsSecret or auth.orderClientSecret and auth.notificationClientSecret, not both"},
		{[]string{"--set", "auth.clientsSecret=", "--set", "auth.orderClientSecret=short"}, "orderClientSecret"},
		{[]string{"--set", "auth.clientsSecret=", "--set", "auth.orderClientSecret=" + strings.Repeat("ab", 32)}, "set both auth.orderClientSecret and auth.notificationClientSecret"},
		{[]string{"--set", "auth.clientsSecret=", "--set", "auth.notificationClientSecret=" + strings.Repeat("ab", 32)}, "set both auth.orderClientSecret and auth.notificationClientSecret"},
		{[]string{"--set", "auth.clientsSecret=", "--set", "auth.orderClientSecret=" + strings.Repeat("ab", 32), "--set", "auth.notificationClientSecret=" + strings.Repeat("ab", 32)}, "must differ"},
		{[]string{"--set", "auth.clientsSecret=", "--set", "auth.orderClientSecret=" + strings.Repeat("ab", 32), "--set", "auth.notificationClientSecret=short"}, "notificationClientSecret"},
		{[]string{"--set", "auth.issuer=pay.example"}, "issuer"},
		{[]string{"--set", "user.replicaCont=3"}, "replicaCont"},
		{[]string{"--set", "migrations.mode=jobs"}, "value must be one of"},
		{[]string{"--set", "defaultCurrency=usd"}, "defaultCurrency"},
		{[]string{"--set", "shutdownTimeout=15"}, "shutdownTimeout"},
		{[]string{"--set", "terminationGracePeriodSeconds=20"}, "must be larger than preStopSleepSeconds + shutdownTimeout (5 + 15s)"},
		{[]string{"--set", "preStopSleepSeconds=0"}, "preStopSleepSeconds"},
		{[]string{"--set", "database.secret.create=true"}, "database.secret.urls.user is required"},
		{[]string{"--kube-version", "1.26.0"}, "kubeVersion"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := render(append(defaultProfile().args(), tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a refusal mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

// TestChecksBite breaks one invariant at a time in the default render and
// expects check (or the strict decoder) to report exactly that.
func TestChecksBite(t *testing.T) {
	manifests, err := render(defaultProfile().args()...)
	if err != nil {
		t.Fatal(err)
	}
	exp := expectationsFor(loadValues(t, defaultProfile()))
	if v := check(mustDecode(t, manifests), exp); len(v) > 0 {
		t.Fatalf("the unbroken render has violations: %v", v)
	}
	deployment := func(objs []*object, comp string) *appsv1.Deployment {
		for _, o := range objs {
			if d, ok := o.Obj.(*appsv1.Deployment); ok && d.Spec.Template.Labels[componentLabel] == comp {
				return d
			}
		}
		t.Fatalf("no Deployment of %s", comp)
		return nil
	}
	job := func(objs []*object, name string) *batchv1.Job {
		for _, o := range objs {
			if j, ok := o.Obj.(*batchv1.Job); ok && j.Name == name {
				return j
			}
		}
		t.Fatalf("no Job %s", name)
		return nil
	}
	setEnv := func(d *appsv1.Deployment, name, value string) {
		for i, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == name {
				d.Spec.Template.Spec.Containers[0].Env[i].Value = value
				return
			}
		}
		t.Fatalf("Deployment %s has no env %s", d.Name, name)
	}
	drop := func(objs []*object, kind, name string) []*object {
		out := slices.DeleteFunc(slices.Clone(objs), func(o *object) bool { return o.Kind == kind && o.Name == name })
		if len(out) != len(objs)-1 {
			t.Fatalf("no %s %s to drop", kind, name)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		mutate func(objs []*object) []*object
		want   string
	}{
		{"container without liveness probe", func(o []*object) []*object {
			deployment(o, "gateway").Spec.Template.Spec.Containers[0].LivenessProbe = nil
			return o
		}, "Deployment kassa-gateway: container gateway has no liveness probe"},
		{"container without preStop delay", func(o []*object) []*object {
			deployment(o, "order").Spec.Template.Spec.Containers[0].Lifecycle = nil
			return o
		}, "Deployment kassa-order: container order: has no preStop sleep"},
		{"grace period shorter than preStop and shutdown", func(o []*object) []*object {
			g := int64(20) // 5 s preStop + 15 s SHUTDOWN_TIMEOUT leave nothing
			deployment(o, "gateway").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
			return o
		}, "Deployment kassa-gateway: container gateway: terminationGracePeriodSeconds 20s does not exceed preStop 5s + SHUTDOWN_TIMEOUT 15s"},
		{"container without readiness probe", func(o []*object) []*object {
			deployment(o, "billing").Spec.Template.Spec.Containers[0].ReadinessProbe = nil
			return o
		}, "Deployment kassa-billing: container billing has no readiness probe"},
		{"service probed over HTTP instead of gRPC", func(o []*object) []*object {
			c := &deployment(o, "user").Spec.Template.Spec.Containers[0]
			c.LivenessProbe.GRPC = nil
			c.LivenessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromString("grpc")}
			return o
		}, "probes of a service must be native gRPC probes"},
		{"service liveness probe on the database-bound overall status", func(o []*object) []*object {
			deployment(o, "billing").Spec.Template.Spec.Containers[0].LivenessProbe.GRPC.Service = nil
			return o
		}, "container billing: liveness probe must ask the gRPC health service \"liveness\""},
		{"gRPC probe on an undeclared port", func(o []*object) []*object {
			deployment(o, "order").Spec.Template.Spec.Containers[0].ReadinessProbe.GRPC.Port = 50099
			return o
		}, "readiness probe on undeclared port 50099"},
		{"writable root filesystem", func(o []*object) []*object {
			f := false
			deployment(o, "order").Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
			return o
		}, "container order: readOnlyRootFilesystem is not true"},
		{"capabilities kept", func(o []*object) []*object {
			deployment(o, "notification").Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil
			return o
		}, "container notification: capabilities do not drop ALL"},
		{"privilege escalation allowed", func(o []*object) []*object {
			tr := true
			deployment(o, "user").Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &tr
			return o
		}, "allowPrivilegeEscalation is not false"},
		{"root allowed", func(o []*object) []*object {
			d := deployment(o, "billing")
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			d.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
			return o
		}, "container billing: runAsNonRoot is not true"},
		{"no seccomp profile", func(o []*object) []*object {
			d := deployment(o, "gateway")
			d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
			d.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile = nil
			return o
		}, "container gateway: seccompProfile is not RuntimeDefault"},
		{"migration Job without limits", func(o []*object) []*object {
			delete(job(o, "kassa-order-migrate").Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
			return o
		}, "Job kassa-order-migrate: container migrate: no memory limit"},
		{"Service targeting an undeclared port", func(o []*object) []*object {
			for _, x := range o {
				if s, ok := x.Obj.(*corev1.Service); ok && s.Name == "kassa-billing" {
					s.Spec.Ports[0].TargetPort = intstr.FromString("grpcx")
				}
			}
			return o
		}, "Service kassa-billing: port grpc targets grpcx, which Deployment kassa-billing does not declare"},
		{"Service selecting nothing", func(o []*object) []*object {
			for _, x := range o {
				if s, ok := x.Obj.(*corev1.Service); ok && s.Name == "kassa-notification" {
					s.Spec.Selector[componentLabel] = "notifications"
				}
			}
			return o
		}, "Service kassa-notification: selects no Deployment's pods"},
		{"Service selecting migration pods", func(o []*object) []*object {
			job(o, "kassa-user-migrate").Spec.Template.Labels[componentLabel] = "user"
			return o
		}, "Service kassa-user: selects the pods of Job kassa-user-migrate, which serve nothing"},
		{"peer address naming no Service", func(o []*object) []*object {
			setEnv(deployment(o, "order"), "USER_ADDR", "kassa-users:50051")
			return o
		}, `Deployment kassa-order: env USER_ADDR="kassa-users:50051": names no rendered Service`},
		{"peer address on a wrong port", func(o []*object) []*object {
			setEnv(deployment(o, "user"), "BILLING_ADDR", "kassa-billing:50099")
			return o
		}, "Service kassa-billing has no port 50099"},
		{"peer addresses swapped", func(o []*object) []*object {
			setEnv(deployment(o, "gateway"), "ORDER_ADDR", "kassa-notification:50054")
			return o
		}, `Service kassa-notification serves "notification", not "order"`},
		{"no NetworkPolicy for a service", func(o []*object) []*object {
			return drop(o, "NetworkPolicy", "kassa-billing")
		}, "Deployment kassa-billing port grpc: admitted [], but the callers with an address of it are [gateway notification order user]"},
		{"NetworkPolicy admitting a non-caller", func(o []*object) []*object {
			for _, x := range o {
				if np, ok := x.Obj.(*networkingv1.NetworkPolicy); ok && np.Name == "kassa-order" {
					from := &np.Spec.Ingress[0].From
					*from = append(*from, networkingv1.NetworkPolicyPeer{PodSelector: deployment(o, "billing").Spec.Selector})
				}
			}
			return o
		}, "Deployment kassa-order port grpc: admitted [billing gateway], want exactly its callers [gateway]"},
		{"NetworkPolicy open to everyone", func(o []*object) []*object {
			for _, x := range o {
				if np, ok := x.Obj.(*networkingv1.NetworkPolicy); ok && np.Name == "kassa-user" {
					np.Spec.Ingress[0].From = nil
				}
			}
			return o
		}, "Deployment kassa-user port grpc: admitted [anyone]"},
		{"no default deny", func(o []*object) []*object {
			return drop(o, "NetworkPolicy", "kassa-default-deny")
		}, "Job kassa-user-migrate: no NetworkPolicy selects its pods"},
		{"test pod shut out of the gateway", func(o []*object) []*object {
			for _, x := range o {
				if np, ok := x.Obj.(*networkingv1.NetworkPolicy); ok && np.Name == "kassa-gateway" {
					np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}}}}
				}
			}
			return o
		}, "Pod kassa-test-readyz asks http://kassa-gateway:8080/readyz?all, but the NetworkPolicies of Deployment kassa-gateway do not admit it"},
		{"service not migrated", func(o []*object) []*object {
			return drop(o, "Job", "kassa-order-migrate")
		}, "Deployment kassa-order: no pre-upgrade hook Job runs /usr/local/bin/order migrate on its database"},
		{"two services on one database", func(o []*object) []*object {
			d := deployment(o, "notification")
			databaseURL(d.Spec.Template.Spec.Containers[0]).ValueFrom.SecretKeyRef.Key = "order"
			return o
		}, "share the database secret kassa-database/order"},
		{"Secret that nobody creates", func(o []*object) []*object {
			d := deployment(o, "user")
			databaseURL(d.Spec.Template.Spec.Containers[0]).ValueFrom.SecretKeyRef.Name = "kassa-db"
			return o
		}, "Secret kassa-db is neither rendered nor the external Secret the values name"},
		{"env set twice", func(o []*object) []*object {
			c := &deployment(o, "gateway").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "LOG_LEVEL", Value: "debug"})
			return o
		}, "env LOG_LEVEL is set twice"},
		{"Deployment without a PodDisruptionBudget", func(o []*object) []*object {
			return drop(o, "PodDisruptionBudget", "kassa-order")
		}, "Deployment kassa-order has no PodDisruptionBudget"},
		{"volume mount without a volume", func(o []*object) []*object {
			c := &deployment(o, "order").Spec.Template.Spec.Containers[0]
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "db-ca", MountPath: "/etc/kassa/db-ca"})
			return o
		}, "container order: mounts volume db-ca, which the pod does not declare"},
		{"image without a tag", func(o []*object) []*object {
			deployment(o, "user").Spec.Template.Spec.Containers[0].Image = "registry.example.com:5000/kassa"
			return o
		}, "image registry.example.com:5000/kassa has no pinned tag"},
		{"component without a key set URL", func(o []*object) []*object {
			c := &deployment(o, "billing").Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AUTH_JWKS_URL" })
			return o
		}, "Deployment kassa-billing: container billing: no AUTH_JWKS_URL"},
		{"key set URL on the user's gRPC port", func(o []*object) []*object {
			setEnv(deployment(o, "notification"), "AUTH_JWKS_URL", "http://kassa-user:50051/.well-known/jwks.json")
			return o
		}, "port 50051 of Service kassa-user is not the user service's admin (metrics) port"},
		{"component without a revocation list URL", func(o []*object) []*object {
			c := &deployment(o, "order").Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AUTH_REVOCATION_URL" })
			return o
		}, "Deployment kassa-order: container order: no AUTH_REVOCATION_URL"},
		{"revocation list URL on the user's gRPC port", func(o []*object) []*object {
			setEnv(deployment(o, "billing"), "AUTH_REVOCATION_URL", "http://kassa-user:50051/.well-known/revoked-subjects.json")
			return o
		}, "AUTH_REVOCATION_URL \"http://kassa-user:50051/.well-known/revoked-subjects.json\": port 50051 of Service kassa-user"},
		{"revocation list URL naming the key set", func(o []*object) []*object {
			setEnv(deployment(o, "gateway"), "AUTH_REVOCATION_URL", "http://kassa-user:9101/.well-known/jwks.json")
			return o
		}, "AUTH_REVOCATION_URL \"http://kassa-user:9101/.well-known/jwks.json\": not http://<user Service>:<metrics port>/.well-known/revoked-subjects.json"},
		{"gateway serving another key set than it verifies with", func(o []*object) []*object {
			setEnv(deployment(o, "gateway"), "JWKS_SOURCE_URL", "http://kassa-order:9103/.well-known/jwks.json")
			return o
		}, "Deployment kassa-gateway: container gateway: JWKS_SOURCE_URL"},
		{"components with different issuers", func(o []*object) []*object {
			setEnv(deployment(o, "order"), "AUTH_ISSUER", "https://elsewhere.example")
			return o
		}, "the components disagree on AUTH_ISSUER"},
		{"signing keys mounted into another service", func(o []*object) []*object {
			ps := &deployment(o, "order").Spec.Template.Spec
			ps.Volumes = append(ps.Volumes, corev1.Volume{Name: "keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "kassa-signing-keys"}}})
			return o
		}, `Deployment kassa-order reads kassa-signing-keys key "": only user may`},
		{"client secret read by the gateway", func(o []*object) []*object {
			c := &deployment(o, "gateway").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "AUTH_CLIENT_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kassa-auth-clients"}, Key: "order-client-secret"}}})
			return o
		}, `Deployment kassa-gateway reads kassa-auth-clients key "order-client-secret": only order may`},
		{"user service without its signing keys", func(o []*object) []*object {
			ps := &deployment(o, "user").Spec.Template.Spec
			ps.Volumes = slices.DeleteFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == "auth" })
			ps.Containers[0].VolumeMounts = slices.DeleteFunc(ps.Containers[0].VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "auth" })
			return o
		}, `container user: AUTH_SIGNING_KEYS "/etc/kassa/auth/signing-keys.json" is not the file signing-keys.json of the Secret kassa-signing-keys`},
		{"key set unreachable through the NetworkPolicy", func(o []*object) []*object {
			for _, x := range o {
				if np, ok := x.Obj.(*networkingv1.NetworkPolicy); ok && np.Name == "kassa-user" {
					// The rule after the gRPC one: the key set's readers.
					np.Spec.Ingress = slices.Delete(np.Spec.Ingress, 1, 2)
				}
			}
			return o
		}, "Deployment kassa-user port metrics: does not admit billing, which reads the signing keys' public half here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := check(tc.mutate(mustDecode(t, manifests)), exp)
			if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, tc.want) }) {
				t.Errorf("want a violation containing %q, got %d:\n%s", tc.want, len(got), strings.Join(got, "\n"))
			}
		})
	}

	// The decoder is strict: a misspelt field is an error, not a default.
	t.Run("unknown field", func(t *testing.T) {
		broken := bytes.Replace(manifests, []byte("readinessProbe:"), []byte("readynessProbe:"), 1)
		if bytes.Equal(broken, manifests) {
			t.Fatal("no readinessProbe in the render")
		}
		_, err := decode(broken)
		if err == nil || !strings.Contains(err.Error(), `unknown field "readynessProbe"`) {
			t.Fatalf("want an unknown-field error, got %v", err)
		}
	})
	t.Run("duplicate field", func(t *testing.T) {
		broken := bytes.Replace(manifests, []byte("  revisionHistoryLimit: 5\n"), []byte("  revisionHistoryLimit: 5\n  revisionHistoryLimit: 6\n"), 1)
		if _, err := decode(broken); err == nil || !strings.Contains(err.Error(), "revisionHistoryLimit") {
			t.Fatalf("want a duplicate-field error, got %v", err)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		broken := append(slices.Clone(manifests), []byte("---\napiVersion: v1\nkind: LimitRange\nmetadata:\n  name: x\n")...)
		if _, err := decode(broken); err == nil || !strings.Contains(err.Error(), "kind v1/LimitRange is not known") {
			t.Fatalf("want an unknown-kind error, got %v", err)
		}
	})
}

func mustDecode(t *testing.T, manifests []byte) []*object {
	t.Helper()
	objs, err := decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
