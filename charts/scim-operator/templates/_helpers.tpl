{{/* Chart name, truncated to 63 characters. */}}
{{- define "scim-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "scim-operator.fullname" -}}
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

{{- define "scim-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "scim-operator.labels" -}}
helm.sh/chart: {{ include "scim-operator.chart" . }}
{{ include "scim-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scim-operator
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "scim-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scim-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "scim-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scim-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "scim-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the Directory's token, empty when none is used. */}}
{{- define "scim-operator.tokenSecretName" -}}
{{- if .Values.directory.existingSecret }}
{{- .Values.directory.existingSecret }}
{{- else if .Values.directory.token }}
{{- printf "%s-token" .Values.directory.name }}
{{- end }}
{{- end }}

{{/* The SCIM base path of the chart's Directory. */}}
{{- define "scim-operator.scimPath" -}}
/scim/v2/{{ .Release.Namespace }}/{{ .Values.directory.name }}
{{- end }}

{{/*
"release/namespace" of another Helm release (or "none/none": no Helm release) owning a live
object, empty when the object is absent, ours, or there is no cluster (helm template).
Args: list $ apiVersion kind namespace name.
*/}}
{{- define "scim-operator.foreignOwner" -}}
{{- $ := index . 0 }}
{{- $live := lookup (index . 1) (index . 2) (index . 3) (index . 4) }}
{{- if $live }}
{{- $annotations := dig "metadata" "annotations" dict $live }}
{{- $release := get $annotations "meta.helm.sh/release-name" | default "none" }}
{{- $namespace := get $annotations "meta.helm.sh/release-namespace" | default "none" }}
{{- if or (ne $release $.Release.Name) (ne $namespace $.Release.Namespace) }}
{{- printf "%s/%s" $release $namespace }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether to render the CRD named by the second argument: crds.install, and the live CRD (if any)
belongs to this release. CRDs kept from an uninstalled release (or applied by hand) stay as they
are rather than failing the install on their ownership; crds.adopt takes them over (with
`--take-ownership`). Args: list $ crdName.
*/}}
{{- define "scim-operator.renderCrd" -}}
{{- $ := index . 0 }}
{{- if and $.Values.crds.install (or $.Values.crds.adopt (not (include "scim-operator.foreignOwner" (list $ "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" (index . 1))))) }}true{{ end }}
{{- end }}
