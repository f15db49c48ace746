package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The chart under test and the pinned helm, found from this module's
// directory (charts/test).
var (
	repoRoot = mustAbs("../..")
	chartDir = filepath.Join(repoRoot, "charts", "kassa")
	helmBin  = filepath.Join(repoRoot, "bin", "helm")
)

const (
	releaseName = "kassa"
	namespace   = "kassa"
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	if _, err := os.Stat(filepath.Join(chartDir, "Chart.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, "charts/test: cannot find the chart:", err)
		os.Exit(1)
	}
	if h := os.Getenv("HELM"); h != "" {
		helmBin = h
	}
	if _, err := os.Stat(helmBin); err != nil {
		// Build the helm pinned in tools/helm/go.mod (what `make helm-tools` does).
		fmt.Fprintln(os.Stderr, "charts/test: building the pinned helm into bin/ (tools/helm)")
		cmd := exec.Command("go", "install", "tool")
		cmd.Dir = filepath.Join(repoRoot, "tools", "helm")
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOBIN="+filepath.Dir(helmBin))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "charts/test: building helm:", err)
			os.Exit(1)
		}
	}
	// Keep helm away from the user's configuration, caches and clusters.
	dir, err := os.MkdirTemp("", "charttest-helm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, kv := range [][2]string{
		{"HELM_CACHE_HOME", "cache"}, {"HELM_CONFIG_HOME", "config"}, {"HELM_DATA_HOME", "data"}, {"KUBECONFIG", "kubeconfig"},
	} {
		os.Setenv(kv[0], filepath.Join(dir, kv[1]))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helm runs the pinned helm and returns its standard output; a failure
// returns the error with helm's standard error.
func helm(args ...string) ([]byte, error) {
	cmd := exec.Command(helmBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// profile is a values file shipped with the chart; the default values have
// an empty file.
type profile struct {
	name string   // "default", "values-kind.yaml", "ci/initcontainer-values.yaml"
	file string   // absolute path, "" for the defaults
	sets []string // --set a.b=value, applied after the file
}

// requiredSets are the values the chart cannot default and refuses to
// install without: the identity Secrets, which the operator creates.
var requiredSets = []string{"auth.signingKeysSecret=kassa-signing-keys", "auth.clientsSecret=kassa-auth-clients"}

// defaultProfile is the chart's defaults plus what an install must name.
func defaultProfile() profile { return profile{name: "default", sets: requiredSets} }

func (p profile) args() []string {
	var args []string
	if p.file != "" {
		args = append(args, "--values", p.file)
	}
	for _, s := range p.sets {
		args = append(args, "--set", s)
	}
	return args
}

// profiles lists the default values and every values profile the chart
// ships: values-*.yaml and ci/*.yaml.
func profiles(t *testing.T) []profile {
	t.Helper()
	ps := []profile{defaultProfile()}
	for _, pattern := range []string{"values-*.yaml", "ci/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(chartDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(chartDir, f)
			ps = append(ps, profile{name: filepath.ToSlash(rel), file: f})
		}
	}
	return ps
}

// render runs `helm template` for the release with the given extra
// arguments (values files, --set) and returns the manifest stream.
func render(args ...string) ([]byte, error) {
	return helm(append([]string{"template", releaseName, chartDir, "--namespace", namespace}, args...)...)
}

// object is one rendered manifest, strictly decoded into its API type.
type object struct {
	Source string // the template it came from
	Kind   string
	Name   string
	Obj    any // *appsv1.Deployment, *corev1.Service, ...
}

// The kinds the chart may render, each with the Go type it must decode
// into. A kind missing here fails the test: add it with its API type.
var kinds = map[string]func() any{
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/Pod":                                  func() any { return &corev1.Pod{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &serviceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &prometheusRule{} },
	"postgresql.cnpg.io/v1/Cluster":           func() any { return &cnpgCluster{} },
	"postgresql.cnpg.io/v1/Database":          func() any { return &cnpgDatabase{} },
}

// cnpgCluster and cnpgDatabase are the parts of CloudNativePG's
// postgresql.cnpg.io/v1 types that the chart renders, with the operator's
// field names (its Go module is not available here). Decoding is strict, so
// a field outside this subset fails the test until it is added here after
// checking the operator's API reference.
type cnpgCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Instances int    `json:"instances"`
		ImageName string `json:"imageName,omitempty"`
		Bootstrap struct {
			InitDB struct {
				Database string `json:"database"`
				Owner    string `json:"owner"`
			} `json:"initdb"`
		} `json:"bootstrap"`
		Storage struct {
			Size         string `json:"size"`
			StorageClass string `json:"storageClass,omitempty"`
		} `json:"storage"`
		PostgreSQL *struct {
			Parameters map[string]string `json:"parameters,omitempty"`
		} `json:"postgresql,omitempty"`
		Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	} `json:"spec"`
}

type cnpgDatabase struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Name    string `json:"name"`
		Owner   string `json:"owner"`
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
	} `json:"spec"`
}

// serviceMonitor and prometheusRule are the parts of prometheus-operator's
// monitoring.coreos.com/v1 types the chart renders, with the operator's
// field names; decoding is strict, as for the CloudNativePG types.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// decode splits a manifest stream and strictly decodes every object into
// its API type: unknown or duplicate fields are errors.
func decode(manifests []byte) ([]*object, error) {
	var out []*object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(manifests), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		src := "?"
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: kind %s/%s is not known to the test: add it to kinds", src, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s: %s %s does not decode strictly: %w", src, tm.Kind, nameOf(doc), err)
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, fmt.Errorf("%s: %T has no metadata", src, obj)
		}
		out = append(out, &object{Source: src, Kind: tm.Kind, Name: m.GetName(), Obj: obj})
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func nameOf(doc string) string {
	var v struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal([]byte(doc), &v)
	return v.Metadata.Name
}

// values is the chart's values.yaml with a profile merged over it, for the
// few facts the invariants depend on (which Secret is external, ...).
type values map[string]any

func loadValues(t *testing.T, p profile, sets ...string) values {
	t.Helper()
	base := readYAML(t, filepath.Join(chartDir, "values.yaml"))
	if p.file != "" {
		base = merge(base, readYAML(t, p.file))
	}
	for _, s := range append(slices.Clone(p.sets), sets...) { // a.b.c=value, as the tests pass to --set
		k, v, _ := strings.Cut(s, "=")
		var val any = v
		switch v {
		case "true":
			val = true
		case "false":
			val = false
		}
		path := strings.Split(k, ".")
		m := base
		for _, p := range path[:len(path)-1] {
			next, _ := m[p].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[path[len(path)-1]] = val
	}
	return values(base)
}

func readYAML(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// get returns the value at a dotted path ("database.secret.create").
func (v values) get(path string) any {
	var cur any = map[string]any(v)
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (v values) bool(path string) bool { b, _ := v.get(path).(bool); return b }

func (v values) string(path string) string { s, _ := v.get(path).(string); return s }
