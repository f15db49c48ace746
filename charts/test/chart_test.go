// Package charttest renders the Helm chart charts/kassa with the pinned
// helm (tools/helm) for the default values and every values profile it
// ships, strictly decodes every object into its Kubernetes API type and
// checks the invariants: check in invariants_test.go, with the checks of
// pods, Deployments, the network, databases and auth in files of those
// names. shapes_test.go holds what each profile renders besides, and
// TestChecksBite (bite_test.go) shows that each invariant fails on a
// manifest that breaks it.
package charttest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

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

func mustDecode(t *testing.T, manifests []byte) []*object {
	t.Helper()
	objs, err := decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
