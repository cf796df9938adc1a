#!/usr/bin/env bash
# Renders the dev stack's every manifest as YAML (the Kubernetes provider's renderYamlToDirectory)
# with the real pulumi CLI: no cluster needed. Deterministic: a fresh state each run, so the same
# input gives byte-identical files. No Secret is rendered (see README, "Render mode").
#   scripts/render.sh [out-dir]      (default: ./rendered)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/rendered}")"
state="${PETS_RENDER_STATE:-$HOME/.cache/pulumi-pets-render-state}"
t0=$SECONDS
# shellcheck source=pulumi-env.sh
. "$root/scripts/pulumi-env.sh"
pets_pulumi_env "$state"
cd "$root"
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund

# The dev config plus the render directory, in a workspace of its own: the repo is untouched.
ws="$state/workspace"
rm -rf "$ws"
pets_workspace "$ws"
node -e '
const fs = require("fs"), yaml = require("js-yaml");
const doc = yaml.load(fs.readFileSync("Pulumi.dev.yaml", "utf8"));
doc.config["pets:renderYamlTo"] = process.argv[2];
fs.writeFileSync(process.argv[1], yaml.dump(doc));' "$ws/Pulumi.dev.yaml" "$out"

rm -rf "$out"
cd "$ws"
pulumi stack rm dev --yes --force --non-interactive >/dev/null 2>&1 || true
pulumi stack init dev --non-interactive >/dev/null
pulumi up --stack dev --yes --skip-preview --non-interactive --suppress-progress
echo "[render] $(find "$out" -type f | wc -l) manifests in $out ($((SECONDS - t0))s)"
