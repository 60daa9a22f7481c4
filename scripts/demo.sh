#!/usr/bin/env bash
# make demo: the whole procedure against azure-sim, as a user would run it.
#   entra-app-create | consent-link --wait | acr-grant --verify | aks-sp-update
# while a stand-in for tenant B's administrator opens the consent link the pipeline
# printed and accepts it. Ends with the cluster itself pulling the image: a probe through
# AKS run command (aks-sp-update --probe-only --probe-image), whose verdict is the last line.
set -euo pipefail
#   scripts/demo.sh [BIN_DIR] [SCENARIO]   (a file, or a shipped one by name: china, national)
#   SIM_FLAGS: more azure-sim flags, e.g. SIM_FLAGS=--unique-name-key
bin=$(cd "${1:-${CARGO_TARGET_DIR:-target}/debug}" && pwd)
scenario=()
file=${2:-}
case "$file" in "" | */* | *.json) ;; *) file="$(dirname "$0")/../azure-sim/scenarios/$file.json" ;; esac
if [ -n "$file" ]; then
  [ -r "$file" ] || { echo "scenario file $file is not readable"; exit 2; }
  scenario=(--scenario "$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
fi
read -ra simflags <<< "${SIM_FLAGS:-}"
work=$(mktemp -d "${TMPDIR:-/tmp}/xtenant-demo.XXXXXX")
simpid=""
adminpid=""
cleanup() {
  if [ -n "$adminpid" ]; then kill "$adminpid" 2>/dev/null || true; fi
  if [ -n "$simpid" ]; then kill "$simpid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }

# Azure as documented, its clock compressed (TIME_SCALE, 0.01 by default: a 30 s replication
# delay takes 0.3 s, the 15-minute reset of the cluster's 3 nodes 9 s).
scale=${TIME_SCALE:-0.01}
say "starting azure-sim (Azure's durations, its clock at --time-scale $scale${2:+, scenario $2})"
mkdir -p "$work/sim"
"$bin/azure-sim" --dir "$work/sim" --time-scale "$scale" "${scenario[@]}" "${simflags[@]}" > "$work/sim.json" &
simpid=$!
for _ in $(seq 200); do [ -s "$work/sim/sim.env" ] && break; sleep 0.05; done
[ -s "$work/sim/sim.env" ] || { echo "azure-sim did not start"; exit 1; }
set -a
# shellcheck disable=SC1091
. "$work/sim/sim.env"
set +a
export PATH="$bin:$PATH" XTENANT_AUTH=env
echo "cluster tenant (A): $CLUSTER_TENANT_DOMAIN   registry tenant (B): $REGISTRY_TENANT_DOMAIN"
echo "cluster: $CLUSTER_NAME (resource group rg-aks)   registry: $REGISTRY_NAME"
if [ -n "${XTENANT_RESOLVE:-}" ]; then
  # A built-in cloud (AzureChinaCloud): only its names are resolved to the simulator.
  echo "cloud: $XTENANT_CLOUD (the tools' built-in table); XTENANT_RESOLVE=$XTENANT_RESOLVE"
fi

# Tenant B's administrator: waits for the link the pipeline prints, opens it a while later
# (100 s of Azure's time: 1 s at the default scale), accepts.
: > "$work/consent.log"
reading=$(awk -v s="$scale" 'BEGIN { printf "%.3f", 100 * s }')
(
  for _ in $(seq 600); do
    url=$(grep -o 'https://[^ ]*/oauth2/authorize?[^ ]*' "$work/consent.log" | head -n 1 || true)
    if [ -n "$url" ]; then
      sleep "$reading"
      echo "admin of tenant B: opening the consent link" >&2
      exec "$bin/sim-person" accept "$url" >&2
    fi
    sleep 0.1
  done
  echo "admin of tenant B: no consent link appeared" >&2
  exit 1
) &
adminpid=$!

say "running the pipeline"
set -x
entra-app-create --cluster-tenant "$CLUSTER_TENANT_DOMAIN" --display-name xtenant-demo < /dev/null \
  | consent-link --registry-tenant "$REGISTRY_TENANT_DOMAIN" --wait --timeout 60s 2> >(tee -a "$work/consent.log" >&2) \
  | acr-grant --registry "$REGISTRY_NAME" --verify --image "$REGISTRY_IMAGE" --timeout 60s \
  | aks-sp-update -g rg-aks -n "$CLUSTER_NAME" --cluster-tenant "$CLUSTER_TENANT_DOMAIN" --timeout 120s > "$work/envelope.json"
{ set +x; } 2>/dev/null

say "asking cluster $CLUSTER_NAME itself to pull $REGISTRY_IMAGE (a pod, through AKS run command)"
# The probe's stderr is what the demo shows: its last line is the kubelet's verdict.
aks-sp-update --cluster "$CLUSTER_ID" --probe-only --probe-image "$REGISTRY_IMAGE" --timeout 60s \
  < "$work/envelope.json" 2>&1 > "$work/probed.json"
