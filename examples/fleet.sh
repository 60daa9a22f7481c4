#!/usr/bin/env bash
# One app for a fleet: granted on every registry in REGISTRIES, then set on every
# cluster in CLUSTERS, as one NDJSON stream per step with --jobs.
# Usage: examples/fleet.sh [--state DIR] CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]
#   REGISTRIES_FILE / CLUSTERS_FILE: one ARM id per line. Needs jq.
#   --state DIR: where the envelopes are kept between runs (default ./xtenant-fleet, mode
#     0700; they hold the client secret): app.json, registries.ndjson, clusters.ndjson.
# Writes the per-registry and per-cluster envelopes to stdout (NDJSON); exits 1 if any failed.
# The registries and clusters acted on are the lines of your two files: this script builds
# each object from them and runs the steps with --targets-from-input on those objects only.
# A rerun starts from the kept envelopes: the app and its secret are reused (no new secret),
# a registry or cluster already done is only read again, a failed or not-started one is
# completed, a line added to a file is started.
set -euo pipefail
usage="usage: fleet.sh [--state DIR] CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]"
die() { echo "fleet: $*" >&2; exit 2; }
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
state=./xtenant-fleet
if [ "${1:-}" = --state ]; then
  [ "$#" -ge 2 ] || die "$usage"
  state=$2
  shift 2
fi
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
umask 077
mkdir -p -- "$state"
chmod 0700 -- "$state"

# One app, consented (or created) once in the registry tenant; a rerun starts from the
# kept envelope, so the same app and secret are found again (nothing new is minted).
app_in=/dev/null
[ -s "$state/app.json" ] && app_in="$state/app.json"
entra-app-create --cluster-tenant="$cluster_tenant" < "$app_in" \
  | consent-link --registry-tenant="$registry_tenant" --create > "$state/app.json.tmp"
mv -- "$state/app.json.tmp" "$state/app.json"

# One envelope per registry, then per cluster: the kept envelope for that id if there is
# one (a rerun), else the app's object plus the target's id. jq builds each object, so a
# line of the file is only ever the id's value: a line such as `x","role_name":"Owner`
# cannot add a field. Objects are read from files, never passed on argv (they may hold the
# client secret); the list is read on stdin.
envelopes() { # FIELD FILE-OF-IDS FILE-WITH-ONE-OBJECT FILE-OF-KEPT-ENVELOPES
  [ -f "$4" ] || : > "$4"
  jq -cR --arg field "$1" --slurpfile obj "$3" --slurpfile kept "$4" '
    select(length > 0) as $id
    | first($kept[] | select(.[$field] == $id)) // ($obj[0] + {($field): $id})' < "$2"
}
status=0
envelopes registry_id "$registries" "$state/app.json" "$state/registries.ndjson" \
  | acr-grant --targets-from-input --jobs="$jobs" --verify > "$state/registries.ndjson.tmp" || status=$?
mv -- "$state/registries.ndjson.tmp" "$state/registries.ndjson"
cat -- "$state/registries.ndjson"
# Every cluster gets the app once the grant worked on at least one registry.
jq -cn 'first(inputs | select(has("error") | not))' "$state/registries.ndjson" > "$state/granted-one.json"
[ -s "$state/granted-one.json" ] || { echo "fleet: no registry was granted" >&2; exit 1; }
envelopes cluster_id "$clusters" "$state/granted-one.json" "$state/clusters.ndjson" \
  | aks-sp-update --targets-from-input --jobs="$jobs" > "$state/clusters.ndjson.tmp" || status=$?
mv -- "$state/clusters.ndjson.tmp" "$state/clusters.ndjson"
cat -- "$state/clusters.ndjson"
exit "$status"
