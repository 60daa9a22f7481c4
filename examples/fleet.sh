#!/usr/bin/env bash
# One app for a fleet: granted on every registry in REGISTRIES, then set on every
# cluster in CLUSTERS, as one NDJSON stream per step with --jobs.
# Usage: examples/fleet.sh CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]
#   REGISTRIES_FILE / CLUSTERS_FILE: one ARM id per line. Needs jq.
# Writes the per-registry and per-cluster envelopes to stdout (NDJSON); exits 1 if any failed.
# The registries and clusters acted on are the lines of your two files: this script builds
# each object from them and runs the steps with --targets-from-input on those objects only.
set -euo pipefail
usage="usage: fleet.sh CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]"
die() { echo "fleet: $*" >&2; exit 2; }
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
if [ "$#" -lt 4 ] || [ "$#" -gt 5 ]; then die "$usage"; fi
cluster_tenant=$1
registry_tenant=$2
registries=$3
clusters=$4
jobs=${5:-4}
# Each value is one argument to a tool (--flag=value): it can neither run a command nor add
# a flag. Its shape is checked first, for a clear message before anything runs.
for v in "$cluster_tenant" "$registry_tenant"; do
  [[ $v =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || die "a tenant must be a tenant id or a domain (got $(printf '%q' "$v"))"
done
[[ $jobs =~ ^[0-9]+$ ]] || die "JOBS must be a number (got $(printf '%q' "$jobs"))"
if [ ! -f "$registries" ] || [ ! -f "$clusters" ]; then die "$usage"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# One app, consented (or created) once in the registry tenant.
entra-app-create --cluster-tenant="$cluster_tenant" < /dev/null \
  | consent-link --registry-tenant="$registry_tenant" --create > "$work/app.json"

# One envelope per registry, then per cluster: the app's object plus the target's id.
# jq builds each object, so a line of the file is only ever the id's value: a line such as
# `x","role_name":"Owner` cannot add a field. The app's object is read from a file, never
# passed on argv (it may hold the client secret); the list is read on stdin.
with_field() { # FIELD FILE-OF-IDS FILE-WITH-ONE-OBJECT
  jq -cR --arg field "$1" --slurpfile obj "$3" 'select(length > 0) | $obj[0] + {($field): .}' < "$2"
}
status=0
with_field registry_id "$registries" "$work/app.json" \
  | acr-grant --targets-from-input --jobs="$jobs" --verify > "$work/granted.ndjson" || status=$?
cat "$work/granted.ndjson"
# Every cluster gets the app once the grant worked on at least one registry.
jq -cn 'first(inputs | select(has("error") | not))' "$work/granted.ndjson" > "$work/granted-one.json"
[ -s "$work/granted-one.json" ] || { echo "fleet: no registry was granted" >&2; exit 1; }
with_field cluster_id "$clusters" "$work/granted-one.json" \
  | aks-sp-update --targets-from-input --jobs="$jobs" || status=$?
exit "$status"
