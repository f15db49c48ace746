package charttest

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Identity invariants. Every component verifies tokens itself with the
// public keys the user service serves on its admin (metrics) port; only
// the user service holds the private keys, and only the order and the
// notification service each its own client secret.

// wantJWKSReaders are the components that verify tokens: all of them.
var wantJWKSReaders = []string{"billing", "gateway", "notification", "order", "user"}

// The keys of the clients Secret and the one component that may read each.
var clientsKeyReader = map[string]string{"order-client-secret": "order", "notification-client-secret": "notification", "clients": "user"}

// secretRef is one key of a Secret that a workload reads; key "" is the
// whole Secret.
type secretRef struct{ secret, key string }

// secretRefs lists what a workload reads from Secrets: volumes and the
// environment of every container, init containers included.
func secretRefs(w workload) map[secretRef]bool {
	out := map[secretRef]bool{}
	addVolume := func(name string, items []corev1.KeyToPath) {
		if len(items) == 0 {
			out[secretRef{name, ""}] = true
		}
		for _, it := range items {
			out[secretRef{name, it.Key}] = true
		}
	}
	for _, v := range w.spec.Volumes {
		if v.Secret != nil {
			addVolume(v.Secret.SecretName, v.Secret.Items)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					addVolume(src.Secret.Name, src.Secret.Items)
				}
			}
		}
	}
	for _, c := range append(slices.Clone(w.spec.InitContainers), w.spec.Containers...) {
		for _, ev := range c.Env {
			if ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil {
				out[secretRef{ev.ValueFrom.SecretKeyRef.Name, ev.ValueFrom.SecretKeyRef.Key}] = true
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				out[secretRef{ef.SecretRef.Name, ""}] = true
			}
		}
	}
	return out
}

// mountedSecret is the Secret key behind file p in container c, if a
// Secret volume provides it.
func mountedSecret(ps *corev1.PodSpec, c corev1.Container, p string) (secretRef, bool) {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(p), path.Clean(vm.MountPath)+"/")
		if !ok || vm.SubPath != "" {
			continue
		}
		for _, v := range ps.Volumes {
			if v.Name != vm.Name {
				continue
			}
			// A Secret volume, or the Secrets of a projected one (the
			// all-in-one pod's files come from two Secrets).
			type source struct {
				name  string
				items []corev1.KeyToPath
			}
			var sources []source
			if v.Secret != nil {
				sources = append(sources, source{v.Secret.SecretName, v.Secret.Items})
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.Secret != nil {
						sources = append(sources, source{s.Secret.Name, s.Secret.Items})
					}
				}
			}
			for _, s := range sources {
				if len(s.items) == 0 && v.Secret != nil {
					return secretRef{s.name, rel}, true
				}
				for _, it := range s.items {
					if it.Path == rel {
						return secretRef{s.name, it.Key}, true
					}
				}
			}
		}
	}
	return secretRef{}, false
}

// The documents of the user service's admin listener every component reads.
const (
	jwksPath       = "/.well-known/jwks.json"
	revocationPath = "/.well-known/revoked-subjects.json"
)

// userAdminTarget reports why u is not path on the user Service's admin
// port, or "".
func userAdminTarget(m *manifest, u, path string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "http" || parsed.Path != path {
		return "not http://<user Service>:<metrics port>" + path
	}
	host := parsed.Hostname()
	for _, suffix := range []string{".svc.cluster.local", ".svc", "." + namespace} {
		host = strings.TrimSuffix(host, suffix)
	}
	svc := m.services[host]
	if svc == nil {
		return "names no rendered Service"
	}
	// The user service's pods: its own, or the all-in-one ones.
	served := len(svc.Spec.Selector) > 0
	for _, w := range selected(m, labels.SelectorFromSet(svc.Spec.Selector)) {
		served = served && hosts(w, "user")
	}
	if !served || len(selected(m, labels.SelectorFromSet(svc.Spec.Selector))) == 0 {
		return fmt.Sprintf("Service %s serves %q, not the user service", svc.Name, svc.Spec.Selector[componentLabel])
	}
	port, _ := strconv.Atoi(parsed.Port())
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == port {
			if p.TargetPort.StrVal != "metrics" && p.TargetPort.IntVal != wantPorts["user"].metrics {
				return fmt.Sprintf("port %d of Service %s is not the user service's admin (metrics) port", port, svc.Name)
			}
			return ""
		}
	}
	return fmt.Sprintf("Service %s has no port %d", svc.Name, port)
}

// checkAuth returns the pods that read the key set, by component label
// (for the NetworkPolicy check), and the violated identity invariants.
func checkAuth(m *manifest, e expectations) (map[string]bool, []string) {
	var bad []string
	readers := map[string]bool{}
	podReaders := map[string]bool{} // the component labels of the pods that read it
	shared := map[string]map[string]bool{"AUTH_ISSUER": {}, "AUTH_AUDIENCE": {}}
	for _, in := range m.instances() {
		w, comp, c := in.w, in.comp, in.c
		{
			add := func(format string, a ...any) {
				bad = append(bad, fmt.Sprintf("%s: container %s: %s", in, c.Name, fmt.Sprintf(format, a...)))
			}
			jwks := env(c, "AUTH_JWKS_URL")
			switch why := userAdminTarget(m, jwks, jwksPath); {
			case jwks == "":
				add("no AUTH_JWKS_URL, so it cannot verify tokens")
			case why != "":
				add("AUTH_JWKS_URL %q: %s", jwks, why)
			default:
				readers[comp] = true
				podReaders[w.component()] = true
			}
			// Without the list a deleted user's token works here until it
			// expires.
			revocation := env(c, "AUTH_REVOCATION_URL")
			switch why := userAdminTarget(m, revocation, revocationPath); {
			case revocation == "":
				add("no AUTH_REVOCATION_URL, so it accepts deleted users' tokens")
			case why != "":
				add("AUTH_REVOCATION_URL %q: %s", revocation, why)
			}
			if comp == "gateway" && env(c, "JWKS_SOURCE_URL") != jwks {
				add("JWKS_SOURCE_URL %q is not its AUTH_JWKS_URL %q", env(c, "JWKS_SOURCE_URL"), jwks)
			}
			for name, seen := range shared {
				if v := env(c, name); v == "" {
					add("no %s", name)
				} else {
					seen[v] = true
				}
			}
			switch comp {
			case "user":
				if ref, ok := mountedSecret(w.spec, c, env(c, "AUTH_SIGNING_KEYS")); !ok || ref != (secretRef{e.signingKeysSecret, "signing-keys.json"}) {
					add("AUTH_SIGNING_KEYS %q is not the file signing-keys.json of the Secret %s", env(c, "AUTH_SIGNING_KEYS"), e.signingKeysSecret)
				}
				if !slices.ContainsFunc(c.Env, func(ev corev1.EnvVar) bool {
					return ev.Name == "AUTH_CLIENTS" && ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil &&
						*ev.ValueFrom.SecretKeyRef == corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: e.clientsSecret}, Key: "clients"}
				}) {
					add("AUTH_CLIENTS is not read from %s/clients", e.clientsSecret)
				}
			case "order", "notification":
				key := comp + "-client-secret"
				if ref, ok := mountedSecret(w.spec, c, env(c, "AUTH_CLIENT_SECRET_FILE")); !ok || ref != (secretRef{e.clientsSecret, key}) {
					add("AUTH_CLIENT_SECRET_FILE %q is not the file of %s/%s", env(c, "AUTH_CLIENT_SECRET_FILE"), e.clientsSecret, key)
				}
				if got := env(c, "AUTH_CLIENT_ID"); got != comp {
					add("AUTH_CLIENT_ID %q, want %q", got, comp)
				}
			}
		}
	}
	for name, seen := range shared {
		if len(seen) > 1 {
			bad = append(bad, fmt.Sprintf("the components disagree on %s: %v", name, seen))
		}
	}
	for _, r := range wantJWKSReaders {
		if !readers[r] {
			bad = append(bad, fmt.Sprintf("component %s does not read the user service's key set", r))
		}
	}
	for _, w := range m.workloads {
		for ref := range secretRefs(w) {
			var owner string
			switch ref.secret {
			case e.signingKeysSecret:
				owner = "user"
			case e.clientsSecret:
				owner = clientsKeyReader[ref.key]
			default:
				continue
			}
			if !hosts(w, owner) {
				who := owner
				if who == "" {
					who = "no component (each reads only its own key)"
				}
				bad = append(bad, fmt.Sprintf("%s reads %s key %q: only %s may", w, ref.secret, ref.key, who))
			}
		}
	}
	return podReaders, bad
}
