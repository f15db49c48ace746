package charttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	"values-allinone.yaml": {
		kinds: map[string]int{"ServiceAccount": 1, "Service": 5, "Deployment": 1, "Job": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 2, "Pod": 1},
		facts: func(t *testing.T, m *manifest) {
			hooks(t, m, "pre-install,pre-upgrade")
			replicas(t, m, 2)
			issuer(t, m, "http://kassa-gateway:8080")
			d := deploymentOf(t, m, allInOneComponent)
			for _, svc := range []string{"user", "billing", "order", "notification"} {
				db := databaseURL(componentView(d.Spec.Template.Spec.Containers[0], svc))
				if db == nil || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil || *db.ValueFrom.SecretKeyRef != (corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "kassa-database"}, Key: svc}) {
					t.Errorf("%s_DATABASE_URL is not key %s of the Secret kassa-database: %+v", strings.ToUpper(svc), svc, db)
				}
			}
			if j := m.jobs[0]; j.Name != "kassa-allinone-migrate" || !slices.Equal(j.Spec.Template.Spec.Containers[0].Command, []string{allInOneBinary}) {
				t.Errorf("want the one Job kassa-allinone-migrate running %s migrate, got %s %v", allInOneBinary, j.Name, j.Spec.Template.Spec.Containers[0].Command)
			}
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
