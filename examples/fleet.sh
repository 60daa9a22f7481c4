#!/usr/bin/env bash
# One app for a fleet: granted on every registry in REGISTRIES, then set on every
# cluster in CLUSTERS, as one NDJSON stream per step with --jobs.
# Usage: examples/fleet.sh [--state DIR] [--envelope FILE [--secret-file PATH]] CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]
#   REGISTRIES_FILE / CLUSTERS_FILE: one ARM id per line. Needs jq.
#   --state DIR: where the envelopes are kept between runs (default ./xtenant-fleet, mode
#     0700; they hold the client secret): app.json, registries.ndjson, clusters.ndjson.
#   --envelope FILE: start from an app made elsewhere (e.g. examples/Makefile's
#     xtenant-state/4-cluster.json) instead of making one; --secret-file PATH: where its secret
#     is kept when the envelope keeps it out (the Makefile's xtenant-state/secret).
# Writes the per-registry and per-cluster envelopes to stdout (NDJSON); exits 1 if any failed.
# The registries and clusters acted on are the lines of your two files: this script builds
# each object from them and runs the steps with --targets-from-input on those objects only.
# A rerun starts from the kept envelopes: the app and its secret are reused (no new secret),
# a registry or cluster already done is only read again, a failed or not-started one is
# completed, a line added to a file is started. The clusters' resets start one at a time
# first (a canary) and stop after the first failure (aks-sp-update --max-failures, default
# 1): fix the cause and rerun this script to finish them.
set -euo pipefail
usage="usage: fleet.sh [--state DIR] [--envelope FILE [--secret-file PATH]] CLUSTER_TENANT REGISTRY_TENANT REGISTRIES_FILE CLUSTERS_FILE [JOBS]"
die() { echo "fleet: $*" >&2; exit 2; }
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
state=./xtenant-fleet
envelope=""
secret_file=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --state|--envelope|--secret-file)
      [ "$#" -ge 2 ] || die "$usage"
      case $1 in
        --state) state=$2 ;;
        --envelope) envelope=$2 ;;
        --secret-file) secret_file=$2 ;;
      esac
      shift 2 ;;
    *) break ;;
  esac
done
[ -z "$envelope" ] || [ -f "$envelope" ] || die "--envelope $(printf '%q' "$envelope") is not a file"
[ -z "$secret_file" ] || [ -f "$secret_file" ] || die "--secret-file $(printf '%q' "$secret_file") is not a file"
# The secret, when kept in a file: read by every step (never on argv, never in the envelopes).
keep=()
secret=()
if [ -n "$secret_file" ]; then
  keep=(--secret-file="$secret_file" --no-secret-output)
  secret=(--client-secret-file="$secret_file")
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
if [ -n "$envelope" ]; then
  # The app's fields only: the registry and cluster another run named are not this fleet's.
  jq -c '{cloud, cluster_tenant_id, registry_tenant_id, app_display_name, app_unique_name,
      app_id, app_object_id, redirect_uri, cluster_sp_object_id, client_secret,
      client_secret_key_id, client_secret_expires_at, client_secret_ref, consent_url,
      registry_sp_object_id} | with_entries(select(.value != null))' < "$envelope" > "$state/from.json"
  app_in="$state/from.json"
fi
[ -s "$state/app.json" ] && app_in="$state/app.json"
entra-app-create --cluster-tenant="$cluster_tenant" "${keep[@]}" < "$app_in" \
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
  | acr-grant --targets-from-input --jobs="$jobs" --verify "${secret[@]}" > "$state/registries.ndjson.tmp" || status=$?
mv -- "$state/registries.ndjson.tmp" "$state/registries.ndjson"
cat -- "$state/registries.ndjson"
# Every cluster gets the app once the grant worked on at least one registry.
jq -cn 'first(inputs | select(has("error") | not))' "$state/registries.ndjson" > "$state/granted-one.json"
[ -s "$state/granted-one.json" ] || { echo "fleet: no registry was granted" >&2; exit 1; }
envelopes cluster_id "$clusters" "$state/granted-one.json" "$state/clusters.ndjson" \
  | aks-sp-update --targets-from-input --jobs="$jobs" "${secret[@]}" > "$state/clusters.ndjson.tmp" || status=$?
mv -- "$state/clusters.ndjson.tmp" "$state/clusters.ndjson"
cat -- "$state/clusters.ndjson"
exit "$status"
