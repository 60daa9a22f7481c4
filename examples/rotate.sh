#!/usr/bin/env bash
# Rotates the app's client secret in the safe order:
#   new secret → verify the pull with it → reset the cluster to it → verify → prune the old secret.
# Usage: examples/rotate.sh ENVELOPE [IMAGE]
#   ENVELOPE: the last envelope of the pipeline (one object, with client_secret, or with
#   client_secret_ref when the secret is kept in Azure Key Vault), rewritten in place.
# At every step the cluster keeps a working credential: the old secret is removed only
# after the cluster runs on the new one. With Key Vault, the new secret is stored under a
# staging name (<name>-next) first, and becomes a new version of the vault's secret (the
# one readers of its current version get) only after the pull with it is verified.
set -euo pipefail
envelope=${1:?usage: rotate.sh ENVELOPE [IMAGE]}
image=${2:-}
image_flag=()
[ -n "$image" ] && image_flag=(--image "$image")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# The vault secret the envelope names: https://VAULT/secrets/NAME/VERSION → https://VAULT/secrets/NAME
ref=$(jq -r '.client_secret_ref // empty' < "$envelope")
staged=()
current=()
if [ -n "$ref" ]; then
    secret_url=${ref%/*}
    staged=(--secret-keyvault "$secret_url-next")
    current=(--secret-keyvault "$secret_url")
fi

echo "rotate: 1/5 minting a new secret" >&2
entra-app-create --new-secret "${staged[@]}" < "$envelope" > "$work/1.json"
echo "rotate: 2/5 verifying the new secret can pull" >&2
acr-grant --verify "${image_flag[@]}" < "$work/1.json" > "$work/2.json"
if [ -n "$ref" ]; then
    echo "rotate: 2/5 verified: the new secret becomes the vault's current version" >&2
    entra-app-create "${current[@]}" < "$work/2.json" > "$work/2v.json"
    mv "$work/2v.json" "$work/2.json"
fi
echo "rotate: 3/5 resetting the cluster to the new secret" >&2
# The cluster's record names the old secret's key id, not the new one's: it is reset to the new secret.
aks-sp-update "${image_flag[@]}" < "$work/2.json" > "$work/3.json"
echo "rotate: 4/5 verifying the pull again" >&2
acr-grant --verify "${image_flag[@]}" < "$work/3.json" > "$work/4.json"
echo "rotate: 5/5 pruning every other secret of the app" >&2
entra-app-create --prune-secrets "${current[@]}" < "$work/4.json" > "$work/5.json"
mv "$work/5.json" "$envelope"
echo "rotate: done; $envelope holds the new secret" >&2
