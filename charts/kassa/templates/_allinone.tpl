{{/*
The four services' database URLs as the all-in-one process reads them
(USER_DATABASE_URL, ...), and with CloudNativePG the one role's credentials
once. Call with (list $ $env): a URL already in $env is left to it.
*/}}
{{- define "kassa.allInOneDatabaseEnv" -}}
{{- $root := index . 0 -}}
{{- $env := index . 1 -}}
{{- $first := true -}}
{{- range $svc := include "kassa.services" $root | fromYamlArray }}
{{- $var := printf "%s_DATABASE_URL" (upper $svc) }}
{{- if not (hasKey $env $var) }}
{{- if not $first }}{{ "\n" }}{{ end }}{{ include "kassa.databaseEnv" (list $root $svc $var $first) }}
{{- $first = false }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The container that runs `kassa migrate` (hook Job or init container), without its name. */}}
{{- define "kassa.allInOneMigrateContainer" -}}
image: {{ include "kassa.image" (list . "allinone") }}
imagePullPolicy: {{ include "kassa.imagePullPolicy" (list . "allinone") }}
command: [/usr/local/bin/kassa]
args: [migrate]
env:
  - name: LOG_LEVEL
    value: {{ .Values.logLevel | quote }}
  - name: LOG_FORMAT
    value: {{ .Values.logFormat | quote }}
  - name: DB_MAX_CONNS
    value: "2"
  {{- include "kassa.allInOneDatabaseEnv" (list . dict) | nindent 2 }}
{{- with .Values.extraVolumeMounts }}
volumeMounts:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  {{- toYaml .Values.migrations.resources | nindent 2 }}
securityContext:
  {{- include "kassa.containerSecurityContext" . | nindent 2 }}
{{- end -}}
