package charttest

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
	job := func(objs []*object, name string) *batchv1.Job { return objectNamed[*batchv1.Job](t, objs, name) }
	service := func(objs []*object, name string) *corev1.Service { return objectNamed[*corev1.Service](t, objs, name) }
	policy := func(objs []*object, name string) *networkingv1.NetworkPolicy {
		return objectNamed[*networkingv1.NetworkPolicy](t, objs, name)
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
			service(o, "kassa-billing").Spec.Ports[0].TargetPort = intstr.FromString("grpcx")
			return o
		}, "Service kassa-billing: port grpc targets grpcx, which Deployment kassa-billing does not declare"},
		{"Service selecting nothing", func(o []*object) []*object {
			service(o, "kassa-notification").Spec.Selector[componentLabel] = "notifications"
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
			from := &policy(o, "kassa-order").Spec.Ingress[0].From
			*from = append(*from, networkingv1.NetworkPolicyPeer{PodSelector: deployment(o, "billing").Spec.Selector})
			return o
		}, "Deployment kassa-order port grpc: admitted [billing gateway], want exactly its callers [gateway]"},
		{"NetworkPolicy open to everyone", func(o []*object) []*object {
			policy(o, "kassa-user").Spec.Ingress[0].From = nil
			return o
		}, "Deployment kassa-user port grpc: admitted [anyone]"},
		{"no default deny", func(o []*object) []*object {
			return drop(o, "NetworkPolicy", "kassa-default-deny")
		}, "Job kassa-user-migrate: no NetworkPolicy selects its pods"},
		{"test pod shut out of the gateway", func(o []*object) []*object {
			policy(o, "kassa-gateway").Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}}}}
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
			np := policy(o, "kassa-user")
			// The rule after the gRPC one: the key set's readers.
			np.Spec.Ingress = slices.Delete(np.Spec.Ingress, 1, 2)
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

// objectNamed returns the object of type T named name in objs; the test
// stops without one, as a mutation of nothing would prove nothing.
func objectNamed[T any](t *testing.T, objs []*object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok && o.Name == name {
			return v
		}
	}
	var none T
	t.Fatalf("no %T named %s", none, name)
	return none
}
