#!/usr/bin/env bash
# The main job (README's first command, after npm ci). Builds the tools that are missing, then:
# - no cluster configured (no kubeconfig with a current context): renders the dev stack to YAML;
# - a cluster: `pulumi preview` of the dev stack, then `pulumi up` when run at a terminal (it asks
#   before changing anything) or with PETS_DEPLOY=1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
if [ "${PETS_RENDER:-}" = 1 ] || [ ! -f "${kubeconfig%%:*}" ] || ! grep -Eq '^current-context: *[^ "]+' "${kubeconfig%%:*}"; then
    echo "[up] no Kubernetes context configured: rendering the dev stack to YAML instead"
    exec bash scripts/render.sh "${PETS_RENDER_DIR:-$root/rendered}"
fi
# shellcheck source=pulumi-env.sh
. scripts/pulumi-env.sh
pets_pulumi_env "${PETS_STATE:-$HOME/.cache/pulumi-pets-state}" keep-login
pulumi stack select dev --create --non-interactive
pulumi preview --stack dev --non-interactive
if [ "${PETS_DEPLOY:-}" = 1 ]; then
    pulumi up --stack dev --yes --non-interactive
elif [ -t 0 ]; then
    pulumi up --stack dev
else
    echo "[up] previewed only; set PETS_DEPLOY=1 to deploy without a terminal"
fi
