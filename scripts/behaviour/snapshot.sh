#!/usr/bin/env bash
# What a source tree makes, for before/after comparisons of a refactoring: the dev stack rendered
# under every variant (render/, real pulumi CLI) and the registrations of every component under
# Pulumi's mocks (mock/*.json). Compare two snapshots with compare.sh.
#   scripts/behaviour/snapshot.sh <out-dir> [source-tree | --ref <git-ref>]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:?usage: snapshot.sh <out-dir> [source-tree | --ref <git-ref>]}")"
src="$repo"
if [ "${2:-}" = --ref ]; then
    # A commit's files, outside the repository (no worktree is registered).
    src="$(mktemp -d)"
    trap 'rm -rf "$src"' EXIT
    git -C "$repo" archive "${3:?--ref needs a git ref}" | tar -x -C "$src"
    ln -s "$(realpath "$repo/node_modules")" "$src/node_modules"
elif [ -n "${2:-}" ]; then
    src="$(realpath "$2")"
fi
# Only ever replace a snapshot: never a directory this script did not make.
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/.pets-snapshot" ]; then
    echo "snapshot.sh: $out exists, is not empty and is not a snapshot (no .pets-snapshot); choose another directory" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out/mock"
touch "$out/.pets-snapshot"
for c in components dev-default dev-tls; do
    (cd "$repo" && npx --no-install ts-node --transpile-only scripts/behaviour/mock-dump.ts "$src" "$c") >"$out/mock/$c.json"
done
echo "[snapshot] mock registrations in $out/mock"
bash "$here/render-variants.sh" "$out/render" "$src"
