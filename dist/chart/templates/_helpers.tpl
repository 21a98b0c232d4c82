{{/* The labels every object of the manager carries, as config/manager sets them. */}}
{{- define "success-operator.selectorLabels" -}}
app.kubernetes.io/name: success-operator
control-plane: controller-manager
{{- end }}

{{- define "success-operator.labels" -}}
{{ include "success-operator.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* The manager's image. */}}
{{- define "success-operator.image" -}}
{{ .Values.manager.image.repository }}:{{ .Values.manager.image.tag | default .Chart.AppVersion }}
{{- end }}
