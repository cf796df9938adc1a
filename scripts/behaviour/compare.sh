#!/usr/bin/env bash
# Compares two snapshots (snapshot.sh): `diff -r` of everything. When they differ, it also says
# whether the only difference is the liberator's shipped code (the ConfigMap `<name>-code` holds
# the compiled liberator/*.ts, and the pods' liberator.pets/code-sha256 annotation its hash), which
# changes with any edit of liberator/ even when no manifest setting does.
#   scripts/behaviour/compare.sh <before> <after>
set -uo pipefail
before="$(realpath "${1:?usage: compare.sh <before> <after>}")"
after="$(realpath "${2:?usage: compare.sh <before> <after>}")"
if diff -r "$before" "$after" >/dev/null; then
    echo "[compare] identical: diff -r $before $after is empty"
    exit 0
fi
diff -rq "$before" "$after" | head -40
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for side in before after; do
    cp -r "$(eval echo "\$$side")" "$tmp/$side"
    # Mask the shipped code and its hash, in YAML (render) and JSON (mock dumps).
    find "$tmp/$side" -type f -name '*-code.yaml' -path '*configmap*' -exec sh -c 'printf "(liberator code)\n" >"$1"' _ {} \;
    find "$tmp/$side" -type f \( -name '*.yaml' -o -name '*.json' \) -exec sed -i -E 's/("?liberator\.pets\/code-sha256"?: *)"?[0-9a-f]{64}"?/\1"(hash)"/' {} +
    node -e '
const fs = require("fs");
for (const f of fs.readdirSync(process.argv[1])) {
    const p = `${process.argv[1]}/${f}`;
    const d = JSON.parse(fs.readFileSync(p, "utf8"));
    for (const r of d.resources) if (r.type === "kubernetes:core/v1:ConfigMap" && /-code$/.test(r.inputs?.metadata?.name ?? "")) r.inputs.data = "(liberator code)";
    fs.writeFileSync(p, JSON.stringify(d, null, 1));
}' "$tmp/$side/mock"
done
if diff -r "$tmp/before" "$tmp/after" >/dev/null; then
    echo "[compare] they differ only in the liberator's shipped code (ConfigMap data and its code-sha256 annotation)"
    exit 1
fi
echo "[compare] they differ beyond the liberator's shipped code:"
diff -r "$tmp/before" "$tmp/after" | cut -c1-400 | head -80
exit 2
