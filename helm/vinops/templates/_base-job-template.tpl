{{/*
vinops.baseJobTemplate: the Kubernetes work pool's base job template (what `prefect work-pool create
--base-job-template` takes), as YAML; base-job-template-configmap.yaml turns it into JSON. `{{ x }}` strings are
Prefect placeholders, filled per flow run from `variables` (defaults below, overridden by a deployment's
job_variables). prefect-kubernetes requires `parallelism`, `completions` and `restartPolicy: Never` in the pod
spec of the manifest (its _get_base_job_manifest); Kubernetes drops the first two as unknown PodSpec fields.
backoffLimit is 0: Prefect retries (and with 0 an evicted pod's run is rescheduled by Prefect).
*/}}
{{- define "vinops.baseJobTemplate" -}}
{{- $jt := .Values.jobTemplate -}}
job_configuration:
  command: {{ include "vinops.placeholder" "command" }}
  env: {{ include "vinops.placeholder" "env" }}
  labels: {{ include "vinops.placeholder" "labels" }}
  name: {{ include "vinops.placeholder" "name" }}
  namespace: {{ include "vinops.placeholder" "namespace" }}
  pod_watch_timeout_seconds: {{ include "vinops.placeholder" "pod_watch_timeout_seconds" }}
  stream_output: {{ include "vinops.placeholder" "stream_output" }}
  job_manifest:
    apiVersion: batch/v1
    kind: Job
    metadata:
      generateName: {{ printf "{{ name }}-" | quote }}
      namespace: {{ include "vinops.placeholder" "namespace" }}
      labels: {{ include "vinops.placeholder" "labels" }}
    spec:
      backoffLimit: 0
      ttlSecondsAfterFinished: {{ include "vinops.placeholder" "finished_job_ttl" }}
      activeDeadlineSeconds: {{ include "vinops.placeholder" "active_deadline_seconds" }}
      template:
        metadata:
          labels:
            {{- include "vinops.selectorLabels" (dict "ctx" . "component" "flow-run") | nindent 12 }}
        spec:
          parallelism: 1
          completions: 1
          restartPolicy: Never
          serviceAccountName: {{ include "vinops.placeholder" "service_account_name" }}
          automountServiceAccountToken: false
          securityContext:
            {{- include "vinops.podSecurityContext" . | nindent 12 }}
          {{- with .Values.image.pullSecrets }}
          imagePullSecrets:
            {{- range . }}
            - name: {{ . | quote }}
            {{- end }}
          {{- end }}
          containers:
            - name: prefect-job
              image: {{ include "vinops.placeholder" "image" }}
              imagePullPolicy: {{ include "vinops.placeholder" "image_pull_policy" }}
              args: {{ include "vinops.placeholder" "command" }}
              env:
                {{- include "vinops.secretEnv" . | nindent 16 }}
              envFrom:
                - configMapRef:
                    name: {{ include "vinops.configMapName" . | quote }}
              resources:
                requests:
                  cpu: {{ include "vinops.placeholder" "cpu_request" }}
                  memory: {{ include "vinops.placeholder" "memory_request" }}
                limits:
                  cpu: {{ include "vinops.placeholder" "cpu_limit" }}
                  memory: {{ include "vinops.placeholder" "memory_limit" }}
              securityContext:
                {{- include "vinops.containerSecurityContext" . | nindent 16 }}
              volumeMounts:
                {{- include "vinops.scratchMounts" . | nindent 16 }}
          volumes:
            {{- include "vinops.scratchVolume" . | nindent 12 }}
variables:
  type: object
  properties:
    name:
      type: string
      title: Name
      description: Name prefix of the flow run's Job (default the flow run's name).
    command:
      type: string
      title: Command
      description: The flow run's command (default the worker's `prefect flow-run execute`).
    labels:
      type: object
      title: Labels
      description: Labels added to the Job and its pod.
      additionalProperties:
        type: string
    env:
      type: object
      title: Environment
      description: Non-secret environment variables of the flow run (secrets come from Kubernetes Secrets).
      additionalProperties:
        type: string
      # PREFECT_HOME in the emptyDir, whatever the worker's own environment passes on (the image sets the same).
      default:
        {{- toYaml (merge (dict) $jt.env (dict "PREFECT_HOME" "/var/lib/vinops/prefect")) | nindent 8 }}
    namespace:
      type: string
      title: Namespace
      description: Namespace of the Job; the worker's Role covers only the release namespace.
      default: {{ include "vinops.jobNamespace" . | quote }}
    image:
      type: string
      title: Image
      description: The vinops image of the flow run.
      default: {{ include "vinops.image" . | quote }}
    image_pull_policy:
      type: string
      title: Image Pull Policy
      enum: [IfNotPresent, Always, Never]
      default: {{ .Values.image.pullPolicy | quote }}
    service_account_name:
      type: string
      title: Service Account Name
      description: ServiceAccount of the flow-run pod (its token is not mounted).
      default: {{ $jt.serviceAccountName | quote }}
    cpu_request:
      type: string
      title: CPU Request
      description: Kubernetes quantity, e.g. 500m.
      default: {{ $jt.resources.requests.cpu | quote }}
    cpu_limit:
      type: string
      title: CPU Limit
      description: Kubernetes quantity, e.g. "2".
      default: {{ $jt.resources.limits.cpu | quote }}
    memory_request:
      type: string
      title: Memory Request
      description: Kubernetes quantity, e.g. 512Mi.
      default: {{ $jt.resources.requests.memory | quote }}
    memory_limit:
      type: string
      title: Memory Limit
      description: Kubernetes quantity, e.g. 1Gi.
      default: {{ $jt.resources.limits.memory | quote }}
    finished_job_ttl:
      type: integer
      minimum: 0
      title: Finished Job TTL
      description: Seconds a finished Job is kept before Kubernetes deletes it.
      default: {{ $jt.finishedJobTtl }}
    active_deadline_seconds:
      type: integer
      minimum: 1
      title: Active Deadline Seconds
      description: Seconds after which Kubernetes stops the flow run's Job.
      default: {{ $jt.activeDeadlineSeconds }}
    pod_watch_timeout_seconds:
      type: integer
      minimum: 1
      title: Pod Watch Timeout Seconds
      description: Seconds the worker waits for the pod to start.
      default: {{ $jt.podWatchTimeoutSeconds }}
    stream_output:
      type: boolean
      title: Stream Output
      description: Whether the worker streams the pod's output to its own log.
      default: true
{{- end -}}
