{{/*
Helpers of the vinops chart, all prefixed `vinops.`. New templates (e.g. `vinops serve`) take their names,
labels, selectors, image and the vinops environment from here.
*/}}

{{/* vinops.name: the chart name, or nameOverride. */}}
{{- define "vinops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* vinops.fullname: the prefix of every object name (the release name, plus the chart name unless it holds it). */}}
{{- define "vinops.fullname" -}}
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

{{/* vinops.chart: chart name and version, for the helm.sh/chart label. */}}
{{- define "vinops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* vinops.selectorLabels: the labels that select one component's pods; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "vinops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vinops.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* vinops.labels: the standard labels of one component's objects, plus commonLabels; same argument as above. */}}
{{- define "vinops.labels" -}}
{{ include "vinops.selectorLabels" . }}
helm.sh/chart: {{ include "vinops.chart" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: vinops
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* vinops.annotations: commonAnnotations as a metadata block (nothing when empty). */}}
{{- define "vinops.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* vinops.image: the vinops image reference (tag defaults to the appVersion). */}}
{{- define "vinops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* vinops.serviceAccountName: the worker's ServiceAccount. */}}
{{- define "vinops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-worker" (include "vinops.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* vinops.configMapName: the ConfigMap of non-secret vinops settings (envFrom). */}}
{{- define "vinops.configMapName" -}}
{{- printf "%s-config" (include "vinops.fullname" .) -}}
{{- end -}}

{{/* vinops.baseJobTemplateName: the ConfigMap holding the work pool's base job template. */}}
{{- define "vinops.baseJobTemplateName" -}}
{{- printf "%s-base-job-template" (include "vinops.fullname" .) -}}
{{- end -}}

{{/* vinops.jobNamespace: where flow-run Jobs are created: the release namespace, the only one the worker's Role covers. */}}
{{- define "vinops.jobNamespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* vinops.workPool: the work pool name, required. */}}
{{- define "vinops.workPool" -}}
{{- required "A work pool name is required (worker.config.workPool)" .Values.worker.config.workPool -}}
{{- end -}}

{{/* vinops.apiUrl: PREFECT_API_URL of the worker (flow runs inherit it from the worker). */}}
{{- define "vinops.apiUrl" -}}
{{- if eq .Values.worker.apiConfig "cloud" -}}
{{- $c := .Values.worker.cloudApiConfig -}}
{{- printf "%s/accounts/%s/workspaces/%s" $c.cloudUrl (required "worker.cloudApiConfig.accountId is required" $c.accountId) (required "worker.cloudApiConfig.workspaceId is required" $c.workspaceId) -}}
{{- else -}}
{{- required "The Prefect API URL is required (worker.selfHostedServerApiConfig.apiUrl)" .Values.worker.selfHostedServerApiConfig.apiUrl -}}
{{- end -}}
{{- end -}}

{{/* vinops.clusterUid: worker.clusterUid, else the kube-system namespace's uid at install time (empty offline). */}}
{{- define "vinops.clusterUid" -}}
{{- if .Values.worker.clusterUid -}}
{{- .Values.worker.clusterUid -}}
{{- else -}}
{{- $ns := lookup "v1" "Namespace" "" "kube-system" | default dict -}}
{{- dig "metadata" "uid" "" $ns -}}
{{- end -}}
{{- end -}}

{{/*
vinops.secretEnv: the vinops variables read from existing Secrets (valueFrom.secretKeyRef), as a list of env
entries; shared by the flow-run Jobs, the migration and any later vinops container. Only the database URL is
required; a reference with an empty name is left out.
*/}}
{{- define "vinops.secretEnv" -}}
{{- $refs := list
  (list "VINOPS_DATABASE_URL" .Values.secrets.databaseUrl)
  (list "VINOPS_FEED_URL" .Values.secrets.feedUrl)
  (list "VINOPS_FEED_USERNAME" .Values.secrets.feedUsername)
  (list "VINOPS_FEED_PASSWORD" .Values.secrets.feedPassword)
  (list "VINOPS_S3_ACCESS_KEY_ID" .Values.secrets.s3AccessKeyId)
  (list "VINOPS_S3_SECRET_ACCESS_KEY" .Values.secrets.s3SecretAccessKey) -}}
{{- $_ := required "secrets.databaseUrl.name is required (the Secret holding VINOPS_DATABASE_URL)" .Values.secrets.databaseUrl.name -}}
{{- range $refs }}
{{- $ref := index . 1 }}
{{- if $ref.name }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | quote }}
      key: {{ $ref.key | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* vinops.databaseUrlEnv: VINOPS_DATABASE_URL alone (the migration needs nothing else). */}}
{{- define "vinops.databaseUrlEnv" -}}
- name: VINOPS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.databaseUrl.name is required" .Values.secrets.databaseUrl.name | quote }}
      key: {{ .Values.secrets.databaseUrl.key | quote }}
{{- end -}}

{{/*
vinops.podSecurityContext / vinops.containerSecurityContext: non-root (the image's numeric user 10001), no
privilege escalation, no capabilities, read-only root filesystem, RuntimeDefault seccomp.
*/}}
{{- define "vinops.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "vinops.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
vinops.scratchMounts / vinops.scratchVolume: the one writable place of a vinops container, an emptyDir mounted
at /tmp and at /var/lib/vinops (the image's HOME, VINOPS_DATA_DIR and PREFECT_HOME).
*/}}
{{- define "vinops.scratchMounts" -}}
- name: scratch
  mountPath: /tmp
  subPath: tmp
- name: scratch
  mountPath: /var/lib/vinops
  subPath: data
{{- end -}}

{{- define "vinops.scratchVolume" -}}
- name: scratch
  emptyDir:
    sizeLimit: {{ .Values.jobTemplate.scratchSizeLimit | quote }}
{{- end -}}

{{/* vinops.placeholder: a Prefect job-template placeholder, `{{ name }}`, as a quoted string. */}}
{{- define "vinops.placeholder" -}}
{{- printf "{{ %s }}" . | quote -}}
{{- end -}}
