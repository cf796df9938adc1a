#!/usr/bin/env bash
# Renders the dev stack of a source tree under every stack configuration in variants/ (each one
# merged over Pulumi.dev.yaml: a key replaces the default's, a mapping is merged one level deep),
# with that tree's own scripts/render.sh and the real pulumi CLI, into <out-dir>/<variant>/.
# Used to show a refactoring changes no manifest: render before and after, then `diff -r`.
#   scripts/behaviour/render-variants.sh <out-dir> [source-tree] [variant...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath -m "${1:?usage: render-variants.sh <out-dir> [source-tree] [variant...]}")"
src="$(realpath "${2:-$here/../..}")"
shift $(($# >= 2 ? 2 : 1))
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
    for f in "$here"/variants/*.yaml; do variants+=("$(basename "$f" .yaml)"); done
fi
state="${PETS_VARIANTS_STATE:-$HOME/.cache/pets-render-variants}"
mkdir -p "$out" "$state"

for variant in "${variants[@]}"; do
    # A root of links to the source tree, with the variant's Pulumi.dev.yaml: render.sh reads
    # the stack config from its root and links the rest into a throw-away workspace.
    root="$state/root-$variant"
    rm -rf "$root"
    mkdir -p "$root"
    for f in Pulumi.yaml index.ts components stacks liberator scripts package.json tsconfig.json; do ln -s "$src/$f" "$root/$f"; done
    ln -s "$(realpath "$src/node_modules")" "$root/node_modules"
    node -e '
const fs = require("fs"), yaml = require("js-yaml");
const [, base, variant, dst] = process.argv;
const b = yaml.load(fs.readFileSync(base, "utf8")).config;
const v = yaml.load(fs.readFileSync(variant, "utf8")).config ?? {};
const obj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const config = { ...b };
for (const [k, val] of Object.entries(v)) config[k] = obj(val) && obj(b[k]) ? { ...b[k], ...val } : val;
fs.writeFileSync(dst, yaml.dump({ config }));' "$src/Pulumi.dev.yaml" "$here/variants/$variant.yaml" "$root/Pulumi.dev.yaml"
    echo "[variants] $variant"
    PETS_RENDER_STATE="$state/state-$variant" bash "$root/scripts/render.sh" "$out/$variant" >"$state/$variant.log" 2>&1 ||
        {
            tail -30 "$state/$variant.log" >&2
            exit 1
        }
    tail -1 "$state/$variant.log"
    rm -rf "$root"
done
