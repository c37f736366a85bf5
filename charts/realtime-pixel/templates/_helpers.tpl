{{/* Names and labels. */}}
{{- define "pixel.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pixel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Common labels; pass (dict "ctx" $ "component" "api"). */}}
{{- define "pixel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: realtime-pixel
{{ include "pixel.selectorLabels" . }}
{{- end -}}

{{- define "pixel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pixel.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of a service; pass (dict "ctx" $ "svc" .Values.api). */}}
{{- define "pixel.image" -}}
{{- $repo := .svc.image.repository -}}
{{- with .ctx.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .ctx.Values.image.tag) -}}
{{- end -}}

{{- define "pixel.jwtSecretName" -}}
{{- default (printf "%s-jwt" (include "pixel.fullname" .)) .Values.jwt.existingSecret -}}
{{- end -}}

{{/* REDIS_URL for every service. */}}
{{- define "pixel.redisEnv" -}}
{{- if .Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if .Values.redis.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379/0" (include "pixel.fullname" .) | quote }}
{{- else if .Values.redis.url }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- else }}
{{- fail "redis.enabled=false needs redis.url or redis.existingSecret" }}
{{- end }}
{{- end -}}

{{- define "pixel.jwtEnv" -}}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "pixel.jwtSecretName" . }}
      key: {{ if .Values.jwt.existingSecret }}{{ .Values.jwt.existingSecretKey }}{{ else }}jwt-secret{{ end }}
{{- end -}}

{{/* A service container's probes on its own port. */}}
{{- define "pixel.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Pod-level settings shared by the Deployments; pass (dict "ctx" $ "svc" .Values.api "component" "api"). */}}
{{- define "pixel.podCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.topologySpreadConstraints }}
{{- /* A constraint without a labelSelector spreads this component's pods. */}}
topologySpreadConstraints:
  {{- range . }}
  {{- $c := deepCopy . }}
  {{- if not (hasKey $c "labelSelector") }}
  {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "pixel.selectorLabels" (dict "ctx" $.ctx "component" $.component) | fromYaml)) }}
  {{- end }}
  - {{- toYaml $c | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
The Deployment of one Rust service: (dict "ctx" $ "component" "api" "svc" .Values.api
"jwt" true "replicas" true). `replicas` false leaves the count to an HPA.
*/}}
{{- define "pixel.deployment" -}}
{{- $ctx := .ctx -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "pixel.fullname" $ctx }}-{{ .component }}
  labels:
    {{- include "pixel.labels" . | nindent 4 }}
spec:
  {{- if .replicas }}
  replicas: {{ .svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "pixel.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "pixel.labels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
        {{- with .svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "pixel.podCommon" (dict "ctx" $ctx "svc" .svc "component" .component) | nindent 6 }}
      terminationGracePeriodSeconds: {{ .svc.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "pixel.image" (dict "ctx" $ctx "svc" .svc) | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .svc.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "pixel.fullname" $ctx }}-config
          env:
            - name: PORT
              value: {{ .svc.port | int64 | quote }}
            {{- include "pixel.redisEnv" $ctx | nindent 12 }}
            {{- if .jwt }}
            {{- include "pixel.jwtEnv" $ctx | nindent 12 }}
            {{- end }}
            {{- with .svc.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- include "pixel.probes" . | nindent 10 }}
          {{- with .svc.preStopSleepSeconds }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ . | quote }}]
          {{- end }}
          resources:
            {{- toYaml .svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
{{- end -}}

{{/* The ClusterIP Service of one component: (dict "ctx" $ "component" "api" "port" 3000). */}}
{{- define "pixel.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "pixel.fullname" .ctx }}-{{ .component }}
  labels:
    {{- include "pixel.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "pixel.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- end -}}
