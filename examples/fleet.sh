#!/usr/bin/env bash
# One app for a fleet: granted on every registry in REGISTRIES, then set on every
# cluster in CLUSTERS, as one NDJSON stream per step with --jobs.
# Usage: examples/fleet.sh CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]
#   REGISTRIES_FILE / CLUSTERS_FILE: one ARM id per line.
# Writes the per-registry and per-cluster envelopes to stdout (NDJSON); exits 1 if any failed.
set -euo pipefail
cluster_tenant=${1:?usage: fleet.sh CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]}
registry_tenant=${2:?}
registries=${3:?}
clusters=${4:?}
jobs=${5:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# One app, consented (or created) once in the registry tenant.
entra-app-create --cluster-tenant "$cluster_tenant" \
  | consent-link --registry-tenant "$registry_tenant" --create > "$work/app.json"

# One envelope per registry, then per cluster: the app's object plus the target's id.
with_field() { # FIELD FILE-OF-IDS < one-object
  local obj
  obj=$(cat)
  while IFS= read -r id; do
    [ -n "$id" ] || continue
    printf '%s,"%s":"%s"}\n' "${obj%\}}" "$1" "$id"
  done < "$2"
}
status=0
with_field registry_id "$registries" < "$work/app.json" \
  | acr-grant --jobs "$jobs" --verify > "$work/granted.ndjson" || status=$?
cat "$work/granted.ndjson"
# Every cluster gets the app once the grant worked on at least one registry.
grep -m1 -v '"error"' "$work/granted.ndjson" > "$work/granted-one.json" || { echo "fleet: no registry was granted" >&2; exit 1; }
with_field cluster_id "$clusters" < "$work/granted-one.json" \
  | aks-sp-update --jobs "$jobs" || status=$?
exit "$status"
