#!/usr/bin/env bash
# Renders the dev stack's every manifest as YAML (the Kubernetes provider's renderYamlToDirectory)
# with the real pulumi CLI: no cluster is needed and none is ever contacted. Deterministic: a fresh
# stack each run, so the same input gives byte-identical files. No Secret is rendered (see README,
# "Render mode").
#   scripts/render.sh [out-dir]      (default: ./rendered)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/rendered}")"
state="${PETS_RENDER_STATE:-$HOME/.cache/pulumi-pets-render-state}"
MARKER=".pets-render"
t0=$SECONDS

# The output directory is replaced as a whole: only ever one that a render made (it holds our
# marker), or an empty or new one — never $HOME, the repo or an unrelated directory.
case "$out" in
/ | "$HOME" | "$root" | "$(dirname "$root")")
    echo "[render] refusing to render into $out: choose a directory of its own, such as $root/rendered" >&2
    exit 2
    ;;
esac
if [ -e "$out" ] && { [ ! -d "$out" ] || { [ -n "$(ls -A "$out")" ] && [ ! -f "$out/$MARKER" ]; }; }; then
    echo "[render] refusing to replace $out: it exists and was not made by a render (no $MARKER file in it); choose a new or empty directory" >&2
    exit 2
fi

# Render mode must not depend on (or reach) whatever cluster the environment points at: the render
# provider refuses a kubeconfig, and no other provider may be configured at all.
unset KUBECONFIG
# shellcheck source=pulumi-env.sh
. "$root/scripts/pulumi-env.sh"
pets_pulumi_env "$state"
cd "$root"
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund

# A workspace of its own with a fresh stack: the repo is untouched. The config is written after
# `stack init` (which writes Pulumi.dev.yaml with its encryption salt; `stack rm` deletes it).
ws="$state/workspace"
rm -rf "$ws"
pets_workspace "$ws"
cd "$ws"
pulumi stack rm dev --yes --force --non-interactive >/dev/null 2>&1 || true
pulumi stack init dev --non-interactive >/dev/null
node -e '
const fs = require("fs"), yaml = require("js-yaml");
const [, src, dst, out] = process.argv;
const dev = yaml.load(fs.readFileSync(src, "utf8"));
const stack = fs.existsSync(dst) ? yaml.load(fs.readFileSync(dst, "utf8")) || {} : {};
const config = { ...dev.config };
delete config["kubernetes:context"];
config["pets:renderYamlTo"] = out;
// No default Kubernetes provider: a resource without the render provider fails instead of deploying.
config["pulumi:disable-default-providers"] = ["kubernetes"];
fs.writeFileSync(dst, yaml.dump({ ...stack, config }));' "$root/Pulumi.dev.yaml" "$ws/Pulumi.dev.yaml" "$out"

rm -rf "$out"
pulumi up --stack dev --yes --skip-preview --non-interactive --suppress-progress
printf 'Rendered by pulumi-pets (npm run render); the whole directory is replaced on the next render.\n' >"$out/$MARKER"
echo "[render] $(find "$out" -type f -name '*.yaml' | wc -l) manifests in $out ($((SECONDS - t0))s)"
