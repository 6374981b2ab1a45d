{{- define "temporal-dr.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "temporal-dr.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "temporal-dr.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "temporal-dr.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "temporal-dr.workerServiceAccount" -}}
{{- if .Values.worker.serviceAccount.create }}{{ default (printf "%s-worker" (include "temporal-dr.fullname" .)) .Values.worker.serviceAccount.name }}{{ else }}{{ default "default" .Values.worker.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "temporal-dr.agentServiceAccount" -}}
{{- if .Values.agent.serviceAccount.create }}{{ default (printf "%s-node-agent" (include "temporal-dr.fullname" .)) .Values.agent.serviceAccount.name }}{{ else }}{{ default "default" .Values.agent.serviceAccount.name }}{{ end }}
{{- end }}

{{/* The environment the worker and the agents share: Temporal, payload keys, store, repository key. */}}
{{- define "temporal-dr.commonEnv" -}}
- { name: TEMPORAL_ADDRESS, value: {{ .Values.temporal.address | quote }} }
- { name: TEMPORAL_NAMESPACE, value: {{ .Values.temporal.namespace | quote }} }
- { name: TEMPORAL_TASK_QUEUE, value: {{ .Values.temporal.taskQueue | quote }} }
{{- if .Values.temporal.tls.enabled }}
- { name: TEMPORAL_TLS, value: "true" }
{{- if .Values.temporal.tls.secretName }}
- { name: TEMPORAL_TLS_CA, value: /etc/temporal-dr/temporal-tls/ca.crt }
{{- if .Values.temporal.tls.mtls }}
- { name: TEMPORAL_TLS_CERT, value: /etc/temporal-dr/temporal-tls/tls.crt }
- { name: TEMPORAL_TLS_KEY, value: /etc/temporal-dr/temporal-tls/tls.key }
{{- end }}
{{- end }}
{{- if .Values.temporal.tls.serverName }}
- { name: TEMPORAL_TLS_SERVER_NAME, value: {{ .Values.temporal.tls.serverName | quote }} }
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKey.secretName }}
- name: TEMPORAL_API_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.temporal.apiKey.secretName | quote }}, key: {{ .Values.temporal.apiKey.key | quote }} } }
{{- end }}
{{- if .Values.payloadKeys.secretName }}
- name: TDR_PAYLOAD_KEYS
  valueFrom: { secretKeyRef: { name: {{ .Values.payloadKeys.secretName | quote }}, key: {{ .Values.payloadKeys.key | quote }} } }
{{- end }}
{{- if .Values.store.endpoint }}
- { name: S3_ENDPOINT, value: {{ .Values.store.endpoint | quote }} }
{{- end }}
- { name: S3_REGION, value: {{ .Values.store.region | quote }} }
- { name: S3_FORCE_PATH_STYLE, value: {{ .Values.store.forcePathStyle | toString | quote }} }
{{- if .Values.store.credentials.secretName }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: { secretKeyRef: { name: {{ .Values.store.credentials.secretName | quote }}, key: {{ .Values.store.credentials.accessKeyIdKey | quote }} } }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.store.credentials.secretName | quote }}, key: {{ .Values.store.credentials.secretAccessKeyKey | quote }} } }
{{- end }}
{{- if .Values.store.ca.secretName }}
- { name: S3_CA_FILE, value: /etc/temporal-dr/store-ca/ca.crt }
{{- end }}
{{- if .Values.repositoryKey.secretName }}
- name: {{ .Values.repositoryKey.env }}
  valueFrom: { secretKeyRef: { name: {{ .Values.repositoryKey.secretName | quote }}, key: {{ .Values.repositoryKey.key | quote }} } }
{{- end }}
- { name: TDR_METRICS_ADDRESS, value: {{ printf "0.0.0.0:%v" .Values.metrics.port | quote }} }
- { name: TDR_HEALTH_ADDRESS, value: {{ printf "0.0.0.0:%v" .Values.health.port | quote }} }
- { name: LOG_LEVEL, value: {{ .Values.logLevel | quote }} }
- { name: LOG_FORMAT, value: json }
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Mounts for the Secrets that hold files (Temporal TLS, the store's CA). */}}
{{- define "temporal-dr.commonMounts" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.secretName }}
- { name: temporal-tls, mountPath: /etc/temporal-dr/temporal-tls, readOnly: true }
{{- end }}
{{- if .Values.store.ca.secretName }}
- { name: store-ca, mountPath: /etc/temporal-dr/store-ca, readOnly: true }
{{- end }}
{{- end }}

{{- define "temporal-dr.commonVolumes" -}}
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret: { secretName: {{ .Values.temporal.tls.secretName | quote }}, defaultMode: 0440 }
{{- end }}
{{- if .Values.store.ca.secretName }}
- name: store-ca
  secret:
    secretName: {{ .Values.store.ca.secretName | quote }}
    items: [{ key: {{ .Values.store.ca.key | quote }}, path: ca.crt }]
{{- end }}
{{- end }}

{{- define "temporal-dr.probes" -}}
# /livez fails once the worker has failed or stopped (restart it); /readyz fails while the Temporal
# server cannot be reached through the worker's connection (config/health-server.ts).
livenessProbe:
  httpGet: { path: /livez, port: health }
  initialDelaySeconds: 20
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: health }
  periodSeconds: 10
  timeoutSeconds: 5
{{- end }}

{{- define "temporal-dr.controllerServiceAccount" -}}
{{- if .Values.controller.serviceAccount.create }}{{ default (printf "%s-controller" (include "temporal-dr.fullname" .)) .Values.controller.serviceAccount.name }}{{ else }}{{ default "default" .Values.controller.serviceAccount.name }}{{ end }}
{{- end }}
