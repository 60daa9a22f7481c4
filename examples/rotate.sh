#!/usr/bin/env bash
# Rotates the app's client secret in the safe order:
#   new secret → verify the pull with it → reset the cluster to it → verify → prune the old secret.
# Usage: examples/rotate.sh --cluster ID --registry NAME|ID [--within DURATION] [--secret-keyvault URL | --secret-file PATH] [--image IMAGE] [--probe-image IMAGE] ENVELOPE
#   --cluster, --registry: the cluster reset and the registry verified on. They come from you,
#     never from the envelope: a step refuses an envelope that names another cluster or registry.
#   --secret-keyvault: the Key Vault secret that holds the app's secret,
#     https://VAULT/secrets/NAME, when the envelope keeps it there (client_secret_ref, one of
#     that secret's versions); the new secret becomes a new version of it.
#   --secret-file: the file that holds the app's secret, when the envelope keeps it out
#     (entra-app-create --secret-file PATH --no-secret-output, as examples/Makefile does); the
#     new secret is written to PATH.next and replaces PATH once the cluster runs on it.
#   --within: renew only when the key the cluster holds ends within DURATION (e.g. 30d), is
#     already expired or gone, or no record says which it is (aks-sp-update --status decides);
#     otherwise say so and change nothing. For cron and CI: exit 0 when nothing was due or
#     the renewal worked, 1 when it failed or the cluster is broken in a way a new secret
#     does not fix (another app, no principal or pull role in tenant B).
#   --probe-image: after the reset, the cluster itself pulls IMAGE (<login server>/<repository>:<tag>)
#     in a short-lived pod through AKS run command (aks-sp-update --probe-image): the renewal
#     goes on to the prune only once the cluster proved, from inside, that it pulls with the
#     new secret; a failed probe stops it at step 3 (the old secret is still there), and a
#     rerun probes again without a second reset.
#   ENVELOPE: the last envelope of the pipeline (one object), rewritten in place.
# Resumable: each step's output is kept in ENVELOPE.rotate/ until the rotation is done, and
# a rerun of the same command goes on from the first step not finished (the new secret is
# not minted twice); a step that failed is rerun on its own output, as the tools expect.
# At every step the cluster keeps a working credential: the old secret is removed only
# after the cluster runs on the new one. With Key Vault, the new secret is stored under a
# staging name (<name>-next) first, and becomes a new version of the vault's secret (the
# one readers of its current version get) only after the pull with it is verified.
# Each value is passed to the tools as one argument (--flag=value), so it can neither run a
# command nor add a flag; a value that is not one word is refused before anything runs.
set -euo pipefail
usage="usage: rotate.sh --cluster ID --registry NAME|ID [--within DURATION] [--secret-keyvault URL | --secret-file PATH] [--image IMAGE] [--probe-image IMAGE] ENVELOPE"
die() { echo "rotate: $*" >&2; exit 2; }
q() { printf '%q' "$1"; }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
# One word: not empty, no whitespace or control character, not starting with -.
word() { # NAME VALUE
  [[ -n $2 && $2 != -* && $2 != *[[:space:][:cntrl:]]* ]] || die "$1 must be one word, not starting with - (got $(q "$2"))"
}
cluster="" registry="" vault="" image="" envelope="" within="" secret_file="" probe=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --cluster|--registry|--secret-keyvault|--secret-file|--image|--probe-image|--within)
      [ "$#" -ge 2 ] || die "$1 needs a value; $usage"
      word "$1" "$2"
      case $1 in
        --cluster) cluster=$2 ;;
        --registry) registry=$2 ;;
        --secret-keyvault) vault=${2%/} ;;
        --secret-file) secret_file=$2 ;;
        --image) image=$2 ;;
        --probe-image) probe=$2 ;;
        --within) within=$2 ;;
      esac
      shift 2 ;;
    --) shift; [ "$#" -eq 1 ] || die "$usage"; envelope=$1; shift ;;
    -*) die "unknown option $(q "$1"); $usage" ;;
    *) [ -z "$envelope" ] || die "$usage"; envelope=$1; shift ;;
  esac
done
if [ -z "$cluster" ] || [ -z "$registry" ] || [ -z "$envelope" ]; then die "$usage"; fi
[ -f "$envelope" ] || die "no envelope file $(q "$envelope")"
command -v jq >/dev/null || die "jq is required (apt-get install jq)"

# Before the new secret is minted, the values' shapes and the envelope: the tools check them
# again (they are the authority), but a rotation that stops after step 1 leaves a stray secret.
shopt -s nocasematch
sub='/subscriptions/[0-9a-f-]+/resourceGroups/[^/]+/providers'
[[ $cluster =~ ^$sub/Microsoft\.ContainerService/managedClusters/[A-Za-z0-9_.-]+$ ]] \
  || die "--cluster must be a cluster's ARM id, $sub/Microsoft.ContainerService/managedClusters/NAME (got $(q "$cluster"))"
[[ $registry =~ ^[a-z0-9]{5,50}$ || $registry =~ ^$sub/Microsoft\.ContainerRegistry/registries/[a-z0-9]{5,50}$ ]] \
  || die "--registry must be a registry's name or ARM id (got $(q "$registry"))"
[[ -z $image || $image =~ ^[a-z0-9][a-z0-9._/:@-]*$ ]] || die "--image must be <login server>/<repository>:<tag> (got $(q "$image"))"
[[ -z $probe || $probe =~ ^[a-z0-9][a-z0-9-]*\.[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/:@-]+$ ]] || die "--probe-image must be <login server>/<repository>:<tag> (got $(q "$probe"))"
[[ -z $vault || $vault =~ ^https://[a-z0-9.-]+(:[0-9]+)?/secrets/[a-z0-9-]+$ ]] \
  || die "--secret-keyvault must be https://VAULT/secrets/NAME (got $(q "$vault"))"
[[ -z $within || $within =~ ^[0-9]+(ms|s|m|h|d)?$ ]] || die "--within must be a duration such as 30d or 12h (got $(q "$within"))"
shopt -u nocasematch
# What the envelope says is only compared with what you named, never acted on.
field() { jq -r --arg f "$1" '.[$f] // empty' < "$envelope"; }
env_cluster=$(field cluster_id)
if [ -n "$env_cluster" ] && [ "$(lower "$env_cluster")" != "$(lower "$cluster")" ]; then
  die "the envelope's cluster_id $(q "$env_cluster") is not --cluster $(q "$cluster"): check that the envelope is this cluster's"
fi
env_registry=$(field registry_id)
mine=$(lower "$registry") theirs=$(lower "$env_registry")
# A name and an id: their names (a registry's name is unique in its cloud).
if [[ $mine != /* || $theirs != /* ]]; then mine=${mine##*/} theirs=${theirs##*/}; fi
if [ -n "$env_registry" ] && [ "$mine" != "$theirs" ]; then
  die "the envelope's registry_id $(q "$env_registry") is not --registry $(q "$registry"): check that the envelope is this registry's"
fi
image_flag=()
[ -n "$image" ] && image_flag=(--image="$image")
probe_flag=()
[ -n "$probe" ] && probe_flag=(--probe-image="$probe")

# The vault secret is yours to name; the envelope's reference must be one of its versions.
ref=$(field client_secret_ref)
staged=()
current=()
# The secret in hand for steps 2 and 3 (the new one), and 4 (the new one, in its place).
new_secret=()
kept_secret=()
if [ -n "$secret_file" ]; then
  [ -z "$vault" ] || die "--secret-file and --secret-keyvault: the secret is kept in one of them"
  [ -z "$ref" ] || die "the envelope keeps its secret in Key Vault (client_secret_ref): pass --secret-keyvault, not --secret-file"
  [ -f "$secret_file" ] || die "--secret-file $(q "$secret_file") is not a file: it is where entra-app-create --secret-file kept the secret"
  staged=(--secret-file="$secret_file.next" --no-secret-output)
  new_secret=(--client-secret-file="$secret_file.next")
  kept_secret=(--client-secret-file="$secret_file")
  current=(--secret-file="$secret_file" --no-secret-output)
elif [ -n "$vault" ]; then
  [[ -z $ref || $(lower "$ref") == "$(lower "$vault")"/* ]] \
    || die "the envelope's client_secret_ref $(q "$ref") is not a version of --secret-keyvault $(q "$vault")"
  staged=(--secret-keyvault="$vault-next")
  current=(--secret-keyvault="$vault")
elif [ -n "$ref" ]; then
  die "the envelope keeps its secret in Key Vault (client_secret_ref): pass --secret-keyvault https://VAULT/secrets/NAME, the secret it is a version of"
elif [ -z "$(field client_secret)" ]; then
  die "the envelope holds no secret: pass --secret-file PATH (where entra-app-create --secret-file keeps it) or --secret-keyvault URL"
fi
target_cluster=(--cluster="$cluster")
target_registry=(--registry="$registry")

umask 077
work="$envelope.rotate"

# The status reads the cluster, the app's keys and tenant B's principal; it writes nothing.
# A rotation renews the secret of the app the cluster runs as: an envelope naming another
# app (its app_id is only a claim) would mint on, switch the cluster to and prune that app.
if [ ! -d "$work" ]; then
  code=0
  report=$(aks-sp-update --status "${target_cluster[@]}" --warn-within="${within:-30d}" < "$envelope") || code=$?
  if printf '%s\n' "$report" | jq -e 'any(.status.problems[]?; .code == "ClusterOnAnotherApp")' > /dev/null; then
    echo "rotate: cluster $cluster does not run as the envelope's app_id $(q "$(field app_id)") (ClusterOnAnotherApp): a rotation renews the secret of the app the cluster runs as; nothing was changed" >&2
    exit 1
  fi
fi
# --within: only what is due.
if [ -n "$within" ] && [ ! -d "$work" ]; then
  health=$(printf '%s\n' "$report" | jq -r '.status.health // empty')
  # Broken in a way a new secret mends: its key ended, is gone, or is not recorded.
  mendable=$(printf '%s\n' "$report" | jq -r '
    [.status.problems[]?.code] as $c
    | ($c | length > 0) and all($c[]; . == "KeyExpired" or . == "KeyGone" or . == "KeyNotRecorded" or . == "KeyExpiresSoon" or . == "LegacyRecord")')
  case "$code:$health" in
    0:healthy)
      echo "rotate: the key cluster $cluster holds does not end within $within: nothing to renew" >&2
      exit 0 ;;
    4:expiring) echo "rotate: the key cluster $cluster holds ends within $within: renewing" >&2 ;;
    1:broken)
      if [ "$mendable" != true ]; then
        echo "rotate: cluster $cluster is broken in a way a new secret does not mend: $(printf '%s\n' "$report" | jq -c '[.status.problems[]?.code]')" >&2
        exit 1
      fi
      echo "rotate: the key cluster $cluster holds is expired, gone or not recorded: renewing" >&2 ;;
    *)
      echo "rotate: the status of cluster $cluster could not be read (exit $code):" >&2
      printf '%s\n' "$report" | jq -c '.error // .' >&2
      exit 1 ;;
  esac
fi

mkdir -p -- "$work"
# Step N reads step N-1's output (ENVELOPE for the first) or, when an earlier attempt of
# step N failed, that attempt's own output; its output is kept once the step succeeded.
step() { # N LABEL COMMAND...
  local n=$1 label=$2
  shift 2
  if [ -s "$work/$n.json" ]; then
    echo "rotate: $n/5 $label: done in an earlier run" >&2
    return
  fi
  local in="$envelope"
  [ "$n" -gt 1 ] && in="$work/$((n - 1)).json"
  [ -s "$work/$n.failed.json" ] && in="$work/$n.failed.json"
  echo "rotate: $n/5 $label" >&2
  if "$@" < "$in" > "$work/$n.out.json"; then
    mv -- "$work/$n.out.json" "$work/$n.json"
    rm -f -- "$work/$n.failed.json"
  else
    mv -- "$work/$n.out.json" "$work/$n.failed.json"
    echo "rotate: step $n failed (the object is in $work/$n.failed.json); rerun the same command to go on from there" >&2
    exit 1
  fi
}
step 1 "minting a new secret" entra-app-create --new-secret "${staged[@]}"
step 2 "verifying the new secret can pull" acr-grant "${target_registry[@]}" --verify "${image_flag[@]}" "${new_secret[@]}"
if [ -n "$vault" ] && [ ! -s "$work/3.json" ]; then
  echo "rotate: 2/5 verified: the new secret becomes the vault's current version" >&2
  entra-app-create "${current[@]}" < "$work/2.json" > "$work/2v.json"
  mv -- "$work/2v.json" "$work/2.json"
fi
# The cluster's record names the old secret's key id, not the new one's: it is reset to the new secret.
# --remove-legacy-tags: the xtenant-* tags an earlier version left on the cluster name the old
# key, which a prune would keep; the reset records the new key on the app, and they go (a
# cluster update only where they are).
step 3 "resetting the cluster to the new secret${probe:+, then its pull proven from inside}" aks-sp-update "${target_cluster[@]}" --remove-legacy-tags "${image_flag[@]}" "${probe_flag[@]}" "${new_secret[@]}"
# The cluster runs on the new secret: it takes the old one's place in the file.
if [ -n "$secret_file" ] && [ -f "$secret_file.next" ]; then
  mv -- "$secret_file.next" "$secret_file"
  echo "rotate: 3/5 done: $secret_file holds the new secret" >&2
fi
step 4 "verifying the pull again" acr-grant "${target_registry[@]}" --verify "${image_flag[@]}" "${kept_secret[@]}"
step 5 "pruning every other secret of the app" entra-app-create --prune-secrets "${current[@]}"
mv -- "$work/5.json" "$envelope"
rm -rf -- "$work"
if [ -n "$secret_file" ]; then
  echo "rotate: done; $envelope names the new secret's key, $secret_file holds it" >&2
else
  echo "rotate: done; $envelope holds the new secret" >&2
fi
