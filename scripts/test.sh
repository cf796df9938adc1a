#!/usr/bin/env bash
# The test command (README, .ci/run): type-check, lint, format check, build, API docs, unit tests,
# the packed package as a consumer installs it, then the integration suite on a real control plane
# (PETS_SKIP_INTEGRATION=1 skips it). Ends with the plain "N passed, N failed" line CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."

summary="$(mktemp -d)/summary.jsonl"
export PETS_TEST_SUMMARY="$summary"
failed_stages=0
stage() {
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name"
    if "$@"; then
        echo "== $name: ok ($((SECONDS - start))s)"
    else
        echo "== $name: FAILED ($((SECONDS - start))s)"
        failed_stages=$((failed_stages + 1))
    fi
}

stage typecheck npx --no-install tsc -p tsconfig.json --noEmit
stage lint npx --no-install eslint .
stage format npx --no-install prettier --check .
stage build npx --no-install tsc -p tsconfig.build.json
stage docs npx --no-install typedoc --logLevel Warn
stage unit npx --no-install jest --selectProjects unit --ci
stage package npx --no-install jest --selectProjects package --ci
if [ "${PETS_SKIP_INTEGRATION:-}" != "1" ]; then
    stage integration bash scripts/integration.sh
fi

passed=0; failed=0; skipped=0
if [ -f "$summary" ]; then
    while IFS= read -r line; do
        p=$(node -e 'const c=JSON.parse(process.argv[1]);console.log(c.passed, c.failed, c.skipped)' "$line")
        read -r a b c <<<"$p"
        passed=$((passed + a)); failed=$((failed + b)); skipped=$((skipped + c))
    done <"$summary"
fi
# A stage that failed outside jest (type errors, build) counts as one failed check.
if [ "$failed_stages" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=$failed_stages; fi
echo
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ] && [ "$failed_stages" -eq 0 ]
