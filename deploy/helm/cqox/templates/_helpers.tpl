{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "cqox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name; the release name alone when it already holds the chart name.
*/}}
{{- define "cqox.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cqox.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Context: the root.
*/}}
{{- define "cqox.labels" -}}
helm.sh/chart: {{ include "cqox.chart" . }}
{{ include "cqox.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cqox
{{- end }}

{{/*
Selector labels. Context: the root.
*/}}
{{- define "cqox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cqox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Per-component names and labels. Context: dict "root" $ "component" "<name>".
*/}}
{{- define "cqox.componentName" -}}
{{- printf "%s-%s" (include "cqox.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cqox.componentLabels" -}}
{{ include "cqox.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cqox.componentSelectorLabels" -}}
{{ include "cqox.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cqox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cqox.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cqox.configMapName" -}}
{{- printf "%s-config" (include "cqox.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cqox.secretName" -}}
{{- default (printf "%s-secrets" (include "cqox.fullname" .) | trunc 63 | trimSuffix "-") .Values.secrets.existingSecret }}
{{- end }}

{{- define "cqox.natsSecretName" -}}
{{- default (printf "%s-nats" (include "cqox.fullname" .) | trunc 63 | trimSuffix "-") .Values.nats.auth.existingSecret }}
{{- end }}

{{- /* The NATS user a component connects as: every estimator Deployment is "estimator". */ -}}
{{- define "cqox.natsUser" -}}
{{- ternary "estimator" . (hasPrefix "estimator" .) }}
{{- end }}

{{- define "cqox.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
A complete Deployment for one CQOX process. Context:
  dict "root" $ "component" "<name>" "spec" <service or pool values> "args" <list> "extraLabels" <map>
Per-spec keys fall back to .Values.podDefaults; replicas honours an explicit 0.
*/}}
{{- define "cqox.deployment" -}}
{{- $root := .root }}
{{- $s := .spec }}
{{- $d := $root.Values.podDefaults }}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cqox.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "cqox.componentLabels" $ctx | nindent 4 }}
    {{- with .extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  replicas: {{ ternary $s.replicas $d.replicas (hasKey $s "replicas") }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "cqox.componentSelectorLabels" $ctx | nindent 6 }}
  template:
    {{- include "cqox.podTemplate" . | nindent 4 }}
{{- end }}

{{/*
The pod template shared by every Deployment. Same context as cqox.deployment.
*/}}
{{- define "cqox.podTemplate" -}}
{{- $root := .root }}
{{- $s := .spec }}
{{- $d := $root.Values.podDefaults }}
{{- $ctx := dict "root" $root "component" .component -}}
metadata:
  labels:
    {{- include "cqox.componentLabels" $ctx | nindent 4 }}
    {{- with .extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with ($s.podLabels | default $d.podLabels) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if not $root.Values.secrets.existingSecret }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- if and $root.Values.nats.auth.enabled (not $root.Values.nats.auth.existingSecret) }}
    checksum/nats: {{ include (print $root.Template.BasePath "/nats-secret.yaml") $root | sha256sum }}
    {{- end }}
    {{- if $root.Values.metrics.podAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $s.port | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with ($s.podAnnotations | default $d.podAnnotations) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cqox.serviceAccountName" $root }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $s.terminationGracePeriodSeconds | default $d.terminationGracePeriodSeconds }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "cqox.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: {{ required (printf "command is required for %s" .component) $s.command | toJson }}
      {{- with .args }}
      args: {{ toJson . }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ $s.port }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "cqox.configMapName" $root }}
        - secretRef:
            name: {{ include "cqox.secretName" $root }}
      env:
        - name: CQOX_HTTP_PORT
          value: {{ $s.port | quote }}
        - name: OTEL_SERVICE_NAME
          value: {{ printf "cqox-%s" .component | quote }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- if $root.Values.nats.auth.enabled }}
        {{- /* Its own NATS user: it may publish only what its declared flows say. */}}
        - name: CQOX_NATS_USER
          value: {{ include "cqox.natsUser" .component | quote }}
        - name: CQOX_NATS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "cqox.natsSecretName" $root }}
              key: {{ include "cqox.natsUser" .component | quote }}
        {{- end }}
        {{- /* The root filesystem is read-only: caches live on the tmp emptyDir (numba: rdrobust). */}}
        - name: HOME
          value: /tmp
        - name: XDG_CACHE_HOME
          value: /tmp/.cache
        - name: NUMBA_CACHE_DIR
          value: /tmp/numba-cache
        - name: MPLCONFIGDIR
          value: /tmp/matplotlib
        {{- range $k, $v := $s.env }}
        - name: {{ $k }}
          value: {{ $v | toString | quote }}
        {{- end }}
      {{- range $kind, $path := dict "startup" "/healthz" "liveness" "/healthz" "readiness" "/readyz" }}
      {{ $kind }}Probe:
        httpGet:
          path: {{ $path }}
          port: http
        {{- toYaml (get $root.Values.probes $kind) | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml ($s.resources | default $d.resources) | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $s.tmpSizeLimit | default $d.tmpSizeLimit }}
  {{- with ($s.nodeSelector | default $d.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($s.tolerations | default $d.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if ternary $s.spreadAcrossNodes $d.spreadAcrossNodes (hasKey $s "spreadAcrossNodes") }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "cqox.componentSelectorLabels" $ctx | nindent 10 }}
  {{- end }}
  {{- with ($s.affinity | default $d.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
