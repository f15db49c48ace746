{{/*
Names, labels and the per-component facts every template shares.
*/}}

{{- define "kassa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: "kassa" for `helm install kassa`, else "<release>-kassa". */}}
{{- define "kassa.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The components in a fixed order, and what the code fixes about each: the
peers it calls (service.Spec.Peers in cmd/<svc>/main.go, the gateway's
upstreams) and whether it owns a database. NetworkPolicies are derived from
the peers, so the peer addresses and the allowed callers cannot disagree.
*/}}
{{- define "kassa.componentNames" -}}
[user, billing, order, notification, gateway]
{{- end -}}
{{- define "kassa.services" -}}
[user, billing, order, notification]
{{- end -}}
{{- define "kassa.peers" -}}
user: [billing]
billing: []
order: [user, billing, notification]
notification: [user, billing]
gateway: [user, billing, order, notification]
{{- end -}}

{{/* Resource name of a component: "kassa-billing". Call with (list $ "billing"). */}}
{{- define "kassa.componentFullname" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "kassa.fullname" $root | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "kassa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. Call with (list $ "component"). */}}
{{- define "kassa.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "kassa.chart" $root }}
{{ include "kassa.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Values.image.tag | default $root.Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: kassa
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select a component's pods. Call with (list $ "component"). */}}
{{- define "kassa.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "kassa.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The container image of a component: repository[:tag][@digest]. Call with (list $ "component"). */}}
{{- define "kassa.image" -}}
{{- $root := index . 0 -}}
{{- $img := merge (dict) ((index $root.Values (index . 1)).image | default dict) $root.Values.image -}}
{{- $ref := $img.repository -}}
{{- $tag := $img.tag | default $root.Chart.AppVersion -}}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end -}}
{{- if $img.digest }}{{ $ref = printf "%s@%s" $ref $img.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{- define "kassa.imagePullPolicy" -}}
{{- $root := index . 0 -}}
{{- (index $root.Values (index . 1)).image.pullPolicy | default $root.Values.image.pullPolicy -}}
{{- end -}}

{{- define "kassa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kassa.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gRPC address of a peer: "kassa-billing:50052" unless peerAddresses.<peer> is set. Call with (list $ "billing"). */}}
{{- define "kassa.peerAddress" -}}
{{- $root := index . 0 -}}
{{- $peer := index . 1 -}}
{{- $override := index ($root.Values.peerAddresses | default dict) $peer -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- printf "%s:%v" (include "kassa.componentFullname" (list $root $peer)) (index $root.Values $peer).port -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret with the database URLs (external PostgreSQL). */}}
{{- define "kassa.databaseSecretName" -}}
{{- .Values.database.secret.name | default (printf "%s-database" (include "kassa.fullname" .)) -}}
{{- end -}}

{{/* Name of the CloudNativePG Cluster. */}}
{{- define "kassa.cnpgClusterName" -}}
{{- .Values.database.cloudnativepg.clusterName | default (printf "%s-db" (include "kassa.fullname" .)) -}}
{{- end -}}

{{/*
Environment of a service's database connection (DATABASE_URL, and with
CloudNativePG the role's PGUSER/PGPASSWORD, which lib/pq reads, so a
generated password never needs URL escaping). Call with (list $ "billing").
*/}}
{{- define "kassa.databaseEnv" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
{{- /* The all-in-one process reads USER_DATABASE_URL, ... (a third
element), and the role's credentials once for all four (a fourth, false). */ -}}
{{- $var := "DATABASE_URL" -}}
{{- $creds := true -}}
{{- if gt (len .) 2 }}{{ $var = index . 2 }}{{ end -}}
{{- if gt (len .) 3 }}{{ $creds = index . 3 }}{{ end -}}
{{- $db := $root.Values.database -}}
{{- if $db.cloudnativepg.enabled -}}
{{- $cluster := include "kassa.cnpgClusterName" $root -}}
{{- if $creds -}}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ $cluster }}-app
      key: username
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $cluster }}-app
      key: password
{{ end -}}
- name: {{ $var }}
  value: {{ printf "postgres://%s-rw:5432/%s?sslmode=%s" $cluster (index $db.names $svc) $db.cloudnativepg.sslmode | quote }}
{{- else -}}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ include "kassa.databaseSecretName" $root }}
      key: {{ index $db.secret.keys $svc }}
{{- end }}
{{- end -}}

{{/* Pod-level securityContext. */}}
{{- define "kassa.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{/* Container-level securityContext. */}}
{{- define "kassa.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/*
Hook events of the migration Jobs. Before every upgrade, so a failing
migration stops the upgrade before any pod is replaced. Before the first
install only when the database Secret is made outside the chart (it exists
already); a chart-made Secret or a CloudNativePG cluster exists only after
the install, so then the services' own migration at start (under the same
advisory lock) does the first one.
*/}}
{{- define "kassa.migrationHooks" -}}
{{- if or .Values.database.cloudnativepg.enabled .Values.database.secret.create -}}
pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/*
The seconds of a Go duration such as "15s" or "1m30s" (the format of
shutdownTimeout, which the schema enforces), as a float.
*/}}
{{- define "kassa.durationSeconds" -}}
{{- $units := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $part -}}
{{- $total = addf $total (mulf (float64 $num) (get $units (trimPrefix $num $part))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Refuses a grace period that does not cover the preStop delay and the
shutdown timeout: the kubelet counts the preStop sleep against
terminationGracePeriodSeconds, then sends SIGTERM, and kills whatever still
runs when the period is over.
*/}}
{{- define "kassa.checkGracePeriod" -}}
{{- $need := addf .Values.preStopSleepSeconds (include "kassa.durationSeconds" .Values.shutdownTimeout) -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 $need) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than preStopSleepSeconds + shutdownTimeout (%v + %s)" .Values.terminationGracePeriodSeconds .Values.preStopSleepSeconds .Values.shutdownTimeout) -}}
{{- end -}}
{{- end -}}

{{/*
Identity. The Secret with the user service's signing keys (key
signing-keys.json): auth.signingKeysSecret, or the chart's own made from
auth.signingKeys. Without either the install stops here: there is no safe
default for a private key, and Helm cannot make an Ed25519 JWK.
*/}}
{{- define "kassa.signingKeysSecretName" -}}
{{- if and .Values.auth.signingKeysSecret .Values.auth.signingKeys -}}
{{- fail "set either auth.signingKeysSecret or auth.signingKeys, not both" -}}
{{- end -}}
{{- if .Values.auth.signingKeys -}}
{{- printf "%s-signing-keys" (include "kassa.fullname" .) -}}
{{- else -}}
{{- required "auth.signingKeysSecret is required: the name of a Secret holding signing-keys.json, made with `user keygen -out signing-keys.json` and `kubectl create secret generic kassa-signing-keys --from-file=signing-keys.json` (docs/deploy.md#identity-and-keys); or pass the file with --set-file auth.signingKeys=signing-keys.json" .Values.auth.signingKeysSecret -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the order and notification services' client secrets and the user service's client list. */}}
{{- define "kassa.clientsSecretName" -}}
{{- $inline := or .Values.auth.orderClientSecret .Values.auth.notificationClientSecret -}}
{{- if and .Values.auth.clientsSecret $inline -}}
{{- fail "set either auth.clientsSecret or auth.orderClientSecret and auth.notificationClientSecret, not both" -}}
{{- end -}}
{{- if $inline -}}
{{- if not (and .Values.auth.orderClientSecret .Values.auth.notificationClientSecret) -}}
{{- fail "set both auth.orderClientSecret and auth.notificationClientSecret: each service has its own client secret" -}}
{{- end -}}
{{- if eq .Values.auth.orderClientSecret .Values.auth.notificationClientSecret -}}
{{- fail "auth.orderClientSecret and auth.notificationClientSecret must differ: each service has its own client secret" -}}
{{- end -}}
{{- printf "%s-auth-clients" (include "kassa.fullname" .) -}}
{{- else -}}
{{- required "auth.clientsSecret is required: the name of a Secret with keys order-client-secret and notification-client-secret (32 random bytes as hex each) and clients (order=<sha256 hex>,notification=<sha256 hex>), see docs/deploy.md#identity-and-keys; or set auth.orderClientSecret and auth.notificationClientSecret" .Values.auth.clientsSecret -}}
{{- end -}}
{{- end -}}

{{/* The tokens' iss: auth.issuer, else the ingress's first host, else the gateway Service. */}}
{{- define "kassa.issuer" -}}
{{- if .Values.auth.issuer -}}
{{- .Values.auth.issuer | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (index .Values.ingress.hosts 0).host -}}
{{- else -}}
{{- printf "http://%s:%v" (include "kassa.componentFullname" (list . "gateway")) .Values.gateway.port -}}
{{- end -}}
{{- end -}}

{{/* The public key set on the user Service's admin (metrics) port. */}}
{{- define "kassa.jwksURL" -}}
{{- printf "http://%s:%v/.well-known/jwks.json" (include "kassa.componentFullname" (list . "user")) .Values.user.metricsPort -}}
{{- end -}}

{{/* The user service's list of deleted users whose tokens are refused, next to its JWKS. */}}
{{- define "kassa.revocationURL" -}}
{{- printf "http://%s:%v/.well-known/revoked-subjects.json" (include "kassa.componentFullname" (list . "user")) .Values.user.metricsPort -}}
{{- end -}}

{{/* Where the user and order containers find their auth files. */}}
{{- define "kassa.authDir" -}}/etc/kassa/auth{{- end -}}

{{/*
The profile (values mode): "allinone" runs every component in one
Deployment, so the objects made per Deployment (PodDisruptionBudget, HPA)
are made for "allinone" instead of for each component.
*/}}
{{- define "kassa.allInOne" -}}
{{- if eq .Values.mode "allinone" }}true{{ end -}}
{{- end -}}
{{- define "kassa.deploymentNames" -}}
{{- if include "kassa.allInOne" . -}}
[allinone]
{{- else -}}
{{- include "kassa.componentNames" . -}}
{{- end -}}
{{- end -}}
