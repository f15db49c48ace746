{{/*
A migration hook Job (migrations.mode=job): the per-service ones
(migrate-jobs.yaml) and the all-in-one one (allinone.yaml). Call with
(list $ "<name>" "<kassa.dev/service label>" "<the container, without its name, as YAML>").
The hook events are in kassa.migrationHooks; the pods carry
component=migrate, so no Service ever selects them.
*/}}
{{- define "kassa.migrateJob" -}}
{{- $root := index . 0 -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ index . 1 }}
  labels:
    {{- include "kassa.labels" (list $root "migrate") | nindent 4 }}
  annotations:
    helm.sh/hook: {{ include "kassa.migrationHooks" $root }}
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $root.Values.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ $root.Values.migrations.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "kassa.selectorLabels" (list $root "migrate") | nindent 8 }}
        kassa.dev/service: {{ index . 2 }}
    spec:
      restartPolicy: Never
      {{- /* The chart's ServiceAccount does not exist yet before the first install. */}}
      serviceAccountName: {{ ternary "default" (include "kassa.serviceAccountName" $root) $root.Values.serviceAccount.create }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "kassa.podSecurityContext" $root | nindent 8 }}
      containers:
        - name: migrate
          {{- index . 3 | nindent 10 }}
      {{- with $root.Values.extraVolumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The container that runs `<service> migrate`, without its name. Call with (list $ "billing"). */}}
{{- define "kassa.migrateContainer" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
image: {{ include "kassa.image" (list $root $svc) }}
imagePullPolicy: {{ include "kassa.imagePullPolicy" (list $root $svc) }}
command: [/usr/local/bin/{{ $svc }}]
args: [migrate]
env:
  - name: LOG_LEVEL
    value: {{ $root.Values.logLevel | quote }}
  - name: LOG_FORMAT
    value: {{ $root.Values.logFormat | quote }}
  - name: DB_MAX_CONNS
    value: "2"
  {{- include "kassa.databaseEnv" (list $root $svc) | nindent 2 }}
{{- with $root.Values.extraVolumeMounts }}
volumeMounts:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  {{- toYaml $root.Values.migrations.resources | nindent 2 }}
securityContext:
  {{- include "kassa.containerSecurityContext" $root | nindent 2 }}
{{- end -}}
