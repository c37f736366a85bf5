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

{{/*
The Redis mode, checked: "bundled" or "external". `redis.enabled` (the
key before `redis.mode`) is refused with the key that replaced it, so that
an old values file never silently lands on the other mode.
*/}}
{{- define "pixel.redisMode" -}}
{{- $r := .Values.redis -}}
{{- if hasKey $r "enabled" -}}
{{- fail "redis.enabled was replaced by redis.mode: use redis.mode=bundled (was enabled=true) or redis.mode=external (was enabled=false) with redis.url or redis.existingSecret" -}}
{{- end -}}
{{- if eq $r.mode "bundled" -}}
{{- if or $r.url $r.existingSecret -}}
{{- fail "redis.url and redis.existingSecret are used only with redis.mode=external (redis.mode is bundled)" -}}
{{- end -}}
{{- else if eq $r.mode "external" -}}
{{- if and $r.url $r.existingSecret -}}
{{- fail "redis.mode=external takes redis.url or redis.existingSecret, not both" -}}
{{- end -}}
{{- if not (or $r.url $r.existingSecret) -}}
{{- fail "redis.mode=external needs redis.url or redis.existingSecret (a Secret holding the URL)" -}}
{{- end -}}
{{- if and $r.url (not (regexMatch "^(redis|rediss|redis\\+sentinel|rediss\\+sentinel|redis\\+cluster|rediss\\+cluster)://[^\\s]+$" $r.url)) -}}
{{- fail "redis.url must be redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// (docs/configuration.md, REDIS_URL)" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "redis.mode must be bundled or external, not %q" (toString $r.mode)) -}}
{{- end -}}
{{- $r.mode -}}
{{- end -}}

{{/* The Secret holding REDIS_URL in external mode: the operator's or the chart's own (from redis.url). */}}
{{- define "pixel.redisSecretName" -}}
{{- default (printf "%s-redis-url" (include "pixel.fullname" .)) .Values.redis.existingSecret -}}
{{- end -}}

{{/* REDIS_URL for every service. */}}
{{- define "pixel.redisEnv" -}}
{{- if eq (include "pixel.redisMode" .) "bundled" }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379/0" (include "pixel.fullname" .) | quote }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "pixel.redisSecretName" . }}
      key: {{ if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis-url{{ end }}
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
