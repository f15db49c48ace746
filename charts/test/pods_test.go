package charttest

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

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
		// A Secret volume, or each Secret of a projected one.
		refs := map[string][]corev1.KeyToPath{}
		if v.Secret != nil {
			refs[v.Secret.SecretName] = v.Secret.Items
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					refs[src.Secret.Name] = append(refs[src.Secret.Name], src.Secret.Items...)
				}
			}
		}
		for name, items := range refs {
			if len(items) == 0 {
				if err := secretExists(m, e, name, ""); err != "" {
					add("volume %s: %s", v.Name, err)
				}
			}
			for _, it := range items {
				if err := secretExists(m, e, name, it.Key); err != "" {
					add("volume %s: %s", v.Name, err)
				}
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
