#!/usr/bin/env bash
# Renews a fleet's secret before it ends: the fleet examples/fleet.sh keeps in --state DIR.
# Usage: examples/renew.sh --within DURATION [--state DIR] [--jobs N] [--probe-image IMAGE] [--secret-keyvault URL]
#   --within: renew the clusters whose key ends within DURATION (e.g. 30d), has expired, is
#     gone or is not recorded (aks-sp-update --status decides); the others are left alone.
#   --state: fleet.sh's directory (default ./xtenant-fleet): app.json, registries.ndjson,
#     clusters.ndjson, rewritten when the renewal is done. Needs jq.
#   --probe-image: each renewed cluster then pulls IMAGE itself (<login server>/<repository>:<tag>),
#     in a short-lived pod through AKS run command, right after its reset (aks-sp-update
#     --probe-image): a cluster that cannot pull with the new secret from inside fails its
#     reset step, which stops the rollout (the canary's failure stops the rest) before the
#     old secret is pruned.
#   --secret-keyvault: the Key Vault secret that holds the app's secret, https://VAULT/secrets/NAME,
#     when the fleet's envelopes keep it there (client_secret_ref, one of that secret's
#     versions; fleet.sh --envelope with an envelope of entra-app-create --secret-keyvault):
#     the new secret is staged under NAME-next, and becomes a new version of NAME (the one
#     readers of its current version get) once its pull is verified on every registry, before
#     any cluster is reset to it. No file and no envelope ever holds it.
# One new secret for the app, in the safe order: mint it → verify the pull with it on every
# registry → reset the clusters that are due (one first, then --jobs at once; the resets stop
# at the first failure, the rest written NotStarted) → verify again → prune the app's
# other secrets (a key a cluster's record names is kept). Exit 0 when nothing was due or all
# went well; 1 when a step failed, or a cluster is broken in a way a new secret does not mend.
# Resumable: each step's output is kept in DIR/renew/ until the renewal is done; a rerun goes
# on from the first step not finished (no second secret), a failed step rerun on its output.
set -euo pipefail
usage="usage: renew.sh --within DURATION [--state DIR] [--jobs N] [--probe-image IMAGE] [--secret-keyvault URL]"
die() { echo "renew: $*" >&2; exit 2; }
say() { echo "renew: $*" >&2; }
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
within="" state=./xtenant-fleet jobs=4 probe="" vault=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --within|--state|--jobs|--probe-image|--secret-keyvault)
      [ "$#" -ge 2 ] || die "$1 needs a value; $usage"
      case $1 in
        --secret-keyvault) vault=${2%/} ;;
        --probe-image) probe=$2 ;;
        --within) within=$2 ;;
        --state) state=$2 ;;
        --jobs) jobs=$2 ;;
      esac
      shift 2 ;;
    *) die "unknown argument $(printf '%q' "$1"); $usage" ;;
  esac
done
[[ $within =~ ^[0-9]+(ms|s|m|h|d)?$ ]] || die "--within must be a duration such as 30d (got $(printf '%q' "$within")); $usage"
[[ $jobs =~ ^[0-9]+$ ]] || die "--jobs must be a number (got $(printf '%q' "$jobs"))"
# One word, passed as one argument (--probe-image=IMAGE): it can neither run a command nor add a flag.
[[ -z $probe || $probe =~ ^[a-z0-9][a-z0-9._/:@-]*$ ]] \
  || die "--probe-image must be <login server>/<repository>:<tag> (got $(printf '%q' "$probe"))"
probe_flag=()
[ -n "$probe" ] && probe_flag=(--probe-image="$probe")
shopt -s nocasematch
[[ -z $vault || $vault =~ ^https://[a-z0-9.-]+(:[0-9]+)?/secrets/[a-z0-9-]+$ ]] \
  || die "--secret-keyvault must be https://VAULT/secrets/NAME (got $(printf '%q' "$vault"))"
shopt -u nocasematch
for f in app.json registries.ndjson clusters.ndjson; do
  [ -s "$state/$f" ] || die "$state/$f is missing: run examples/fleet.sh --state $(printf '%q' "$state") first"
done
# The vault secret is yours to name; the fleet's reference must be one of its versions.
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
ref=$(jq -r '.client_secret_ref // empty' < "$state/app.json")
staged=()
current=()
if [ -n "$vault" ]; then
  [[ -z $ref || $(lower "$ref") == "$(lower "$vault")"/* ]] \
    || die "$state/app.json's client_secret_ref $(printf '%q' "$ref") is not a version of --secret-keyvault $(printf '%q' "$vault")"
  staged=(--secret-keyvault="$vault-next")
  current=(--secret-keyvault="$vault")
elif [ -n "$ref" ]; then
  die "the fleet keeps its secret in Key Vault (client_secret_ref in $state/app.json): pass --secret-keyvault https://VAULT/secrets/NAME, the secret it is a version of"
fi
umask 077
work="$state/renew"
status=0

# Which clusters are due. The status only reads.
if [ ! -d "$work" ]; then
  code=0
  aks-sp-update --status --warn-within="$within" --jobs="$jobs" < "$state/clusters.ndjson" > "$state/status.ndjson" || code=$?
  # Due: expiring, or broken only in ways a new secret mends.
  jq -r '
    [.status.problems[]?.code] as $c
    | select(.status.health == "expiring"
        or (.status.health == "broken" and all($c[]; . == "KeyExpired" or . == "KeyGone" or . == "KeyNotRecorded" or . == "KeyExpiresSoon" or . == "LegacyRecord")))
    | .cluster_id' < "$state/status.ndjson" > "$state/due.txt"
  other=$(jq -c 'select(has("error") or (.status.health == "broken"
      and any(.status.problems[]?.code; . != "KeyExpired" and . != "KeyGone" and . != "KeyNotRecorded" and . != "KeyExpiresSoon" and . != "LegacyRecord")))
    | .cluster_id // .error.message' < "$state/status.ndjson")
  if [ -n "$other" ]; then
    say "broken in a way a new secret does not mend (see $state/status.ndjson): $other"
    status=1
  fi
  if [ ! -s "$state/due.txt" ]; then
    say "no cluster's key ends within $within: nothing to renew (status exit $code)"
    exit "$status"
  fi
  say "$(wc -l < "$state/due.txt") cluster(s) due: renewing"
  mkdir -p -- "$work"
  mv -- "$state/due.txt" "$work/due.txt"
fi

# Step N: its output kept once it succeeded; an earlier failed attempt is rerun on its own output.
step() { # N LABEL INPUT-FILE COMMAND...
  local n=$1 label=$2 in=$3
  shift 3
  if [ -s "$work/$n.ndjson" ]; then
    say "$n/5 $label: done in an earlier run"
    return
  fi
  [ -s "$work/$n.failed.ndjson" ] && in="$work/$n.failed.ndjson"
  say "$n/5 $label"
  if "$@" < "$in" > "$work/$n.out.ndjson"; then
    mv -- "$work/$n.out.ndjson" "$work/$n.ndjson"
    rm -f -- "$work/$n.failed.ndjson"
  else
    mv -- "$work/$n.out.ndjson" "$work/$n.failed.ndjson"
    say "step $n failed (the objects are in $work/$n.failed.ndjson); rerun the same command to go on from there"
    exit 1
  fi
}
# The objects of FILE with the new secret of $work/1.ndjson (a pull proof made with the old
# one no longer holds): with IDS, the objects whose FIELD is listed there (their own earlier
# error dropped: the status read them), else those without an error.
with_new_secret() { # FILE [FIELD IDS]
  jq -c --slurpfile new "$work/1.ndjson" --arg field "${2:-}" --rawfile ids "${3:-/dev/null}" '
    ($ids | split("\n") | map(select(length > 0))) as $due
    | if $field == "" then select(has("error") | not)
      else select(.[$field] as $v | $due | index($v)) | del(.error) end
    | del(.pull_verified_at, .pull_proof, .client_secret, .client_secret_ref)
    + ($new[0] | {app_id, client_secret, client_secret_ref, client_secret_key_id, client_secret_expires_at}
        | with_entries(select(.value != null)))' "$1"
}
# FILE with each object replaced by the one of DONE with the same FIELD, if any.
merged() { # FILE FIELD DONE
  jq -c --arg field "$2" --slurpfile finished "$3" '
    . as $o | (first($finished[] | select(.[$field] == $o[$field])) // $o)' "$1"
}

step 1 "minting a new secret" "$state/app.json" entra-app-create --new-secret "${staged[@]}"
with_new_secret "$state/registries.ndjson" > "$work/registries-new.ndjson"
step 2 "verifying the new secret can pull from every registry" "$work/registries-new.ndjson" \
  acr-grant --targets-from-input --verify --jobs="$jobs"
# Verified on every registry: in Key Vault mode, the staged secret becomes the vault's current
# version (once: a rerun finds the reference already there).
if [ -n "$vault" ] && [[ $(lower "$(jq -r '.client_secret_ref // empty' < "$work/1.ndjson")") != "$(lower "$vault")"/* ]]; then
  say "2/5 verified: the new secret becomes the vault's current version"
  entra-app-create "${current[@]}" < "$work/1.ndjson" > "$work/1v.ndjson"
  mv -- "$work/1v.ndjson" "$work/1.ndjson"
fi
with_new_secret "$state/clusters.ndjson" cluster_id "$work/due.txt" > "$work/clusters-new.ndjson"
# --remove-legacy-tags: the xtenant-* tags an earlier version left on a cluster name its old
# key, which the prune would keep; the reset records the new key on the app, and they go.
step 3 "resetting the clusters that are due to the new secret${probe:+, each proven from inside}" "$work/clusters-new.ndjson" \
  aks-sp-update --targets-from-input --jobs="$jobs" --remove-legacy-tags "${probe_flag[@]}"
with_new_secret "$work/2.ndjson" > "$work/registries-again.ndjson"
step 4 "verifying the pull again" "$work/registries-again.ndjson" acr-grant --targets-from-input --verify --jobs="$jobs"
step 5 "pruning the app's other secrets (a key a cluster holds is kept)" "$work/1.ndjson" entra-app-create --prune-secrets "${current[@]}"

# Done: the state holds the new secret; each renewed cluster's envelope is its reset's output.
merged "$state/registries.ndjson" registry_id "$work/4.ndjson" > "$work/registries.ndjson"
merged "$state/clusters.ndjson" cluster_id "$work/3.ndjson" > "$work/clusters.ndjson"
mv -- "$work/5.ndjson" "$state/app.json"
mv -- "$work/registries.ndjson" "$state/registries.ndjson"
mv -- "$work/clusters.ndjson" "$state/clusters.ndjson"
rm -rf -- "$work"
say "done: $(wc -l < "$state/clusters.ndjson") cluster(s) in $state/clusters.ndjson, the renewed ones on the new secret"
exit "$status"
