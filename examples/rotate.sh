#!/usr/bin/env bash
# Rotates the app's client secret in the safe order:
#   new secret → verify the pull with it → reset the cluster to it → verify → prune the old secret.
# Usage: examples/rotate.sh --cluster ID --registry NAME|ID [--secret-keyvault URL] [--image IMAGE] ENVELOPE
#   --cluster, --registry: the cluster reset and the registry verified on. They come from you,
#     never from the envelope: a step refuses an envelope that names another cluster or registry.
#   --secret-keyvault: the Key Vault secret that holds the app's secret,
#     https://VAULT/secrets/NAME, when the envelope keeps it there (client_secret_ref, one of
#     that secret's versions); the new secret becomes a new version of it.
#   ENVELOPE: the last envelope of the pipeline (one object), rewritten in place.
# At every step the cluster keeps a working credential: the old secret is removed only
# after the cluster runs on the new one. With Key Vault, the new secret is stored under a
# staging name (<name>-next) first, and becomes a new version of the vault's secret (the
# one readers of its current version get) only after the pull with it is verified.
# Each value is passed to the tools as one argument (--flag=value), so it can neither run a
# command nor add a flag; a value that is not one word is refused before anything runs.
set -euo pipefail
usage="usage: rotate.sh --cluster ID --registry NAME|ID [--secret-keyvault URL] [--image IMAGE] ENVELOPE"
die() { echo "rotate: $*" >&2; exit 2; }
q() { printf '%q' "$1"; }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
# One word: not empty, no whitespace or control character, not starting with -.
word() { # NAME VALUE
  [[ -n $2 && $2 != -* && $2 != *[[:space:][:cntrl:]]* ]] || die "$1 must be one word, not starting with - (got $(q "$2"))"
}
cluster="" registry="" vault="" image="" envelope=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --cluster|--registry|--secret-keyvault|--image)
      [ "$#" -ge 2 ] || die "$1 needs a value; $usage"
      word "$1" "$2"
      case $1 in
        --cluster) cluster=$2 ;;
        --registry) registry=$2 ;;
        --secret-keyvault) vault=${2%/} ;;
        --image) image=$2 ;;
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
[[ -z $vault || $vault =~ ^https://[a-z0-9.-]+(:[0-9]+)?/secrets/[a-z0-9-]+$ ]] \
  || die "--secret-keyvault must be https://VAULT/secrets/NAME (got $(q "$vault"))"
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

# The vault secret is yours to name; the envelope's reference must be one of its versions.
ref=$(field client_secret_ref)
staged=()
current=()
if [ -n "$vault" ]; then
  [[ -z $ref || $(lower "$ref") == "$(lower "$vault")"/* ]] \
    || die "the envelope's client_secret_ref $(q "$ref") is not a version of --secret-keyvault $(q "$vault")"
  staged=(--secret-keyvault="$vault-next")
  current=(--secret-keyvault="$vault")
elif [ -n "$ref" ]; then
  die "the envelope keeps its secret in Key Vault (client_secret_ref): pass --secret-keyvault https://VAULT/secrets/NAME, the secret it is a version of"
fi
target_cluster=(--cluster="$cluster")
target_registry=(--registry="$registry")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

echo "rotate: 1/5 minting a new secret" >&2
entra-app-create --new-secret "${staged[@]}" < "$envelope" > "$work/1.json"
echo "rotate: 2/5 verifying the new secret can pull" >&2
acr-grant "${target_registry[@]}" --verify "${image_flag[@]}" < "$work/1.json" > "$work/2.json"
if [ -n "$vault" ]; then
  echo "rotate: 2/5 verified: the new secret becomes the vault's current version" >&2
  entra-app-create "${current[@]}" < "$work/2.json" > "$work/2v.json"
  mv "$work/2v.json" "$work/2.json"
fi
echo "rotate: 3/5 resetting the cluster to the new secret" >&2
# The cluster's record names the old secret's key id, not the new one's: it is reset to the new secret.
aks-sp-update "${target_cluster[@]}" "${image_flag[@]}" < "$work/2.json" > "$work/3.json"
echo "rotate: 4/5 verifying the pull again" >&2
acr-grant "${target_registry[@]}" --verify "${image_flag[@]}" < "$work/3.json" > "$work/4.json"
echo "rotate: 5/5 pruning every other secret of the app" >&2
entra-app-create --prune-secrets "${current[@]}" < "$work/4.json" > "$work/5.json"
mv "$work/5.json" "$envelope"
echo "rotate: done; $envelope holds the new secret" >&2
