package charttest

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

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
	for _, in := range m.instances() {
		d, c := in.w, in.c
		{
			db := databaseURL(c)
			if db == nil || len(c.Command) == 0 {
				continue
			}
			runs := func(mc corev1.Container, binary string, db *corev1.EnvVar) bool {
				return runs(migrateView(mc, in.comp), binary, db)
			}
			switch mode {
			case "initContainer":
				if !slices.ContainsFunc(d.spec.InitContainers, func(ic corev1.Container) bool { return runs(ic, c.Command[0], db) }) {
					bad = append(bad, fmt.Sprintf("%s: no init container runs %s migrate on its database", in, c.Command[0]))
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
					bad = append(bad, fmt.Sprintf("%s: no pre-upgrade hook Job runs %s migrate on its database", in, c.Command[0]))
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
	for _, in := range m.instances() {
		d, c := struct{ Name string }{strings.TrimPrefix(in.String(), "Deployment ")}, in.c
		{
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
