{{/* vinops.egressRule: one egress rule to a destination's CIDRs and ports (nothing when it has no CIDR); call
with (dict "to" .Values.networkPolicy.database "protocols" (list "TCP")). */}}
{{- define "vinops.egressRule" -}}
{{- if .to.cidrs }}
- to:
    {{- range .to.cidrs }}
    - ipBlock:
        cidr: {{ . | quote }}
    {{- end }}
  ports:
    {{- $protocols := .protocols }}
    {{- range .to.ports }}
    {{- $port := . }}
    {{- range $protocols }}
    - protocol: {{ . }}
      port: {{ $port }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end -}}
