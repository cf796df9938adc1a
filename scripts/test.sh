#!/usr/bin/env bash
# The test command (README, .ci/run): type-check, lint, format check, build, API docs, unit tests,
# the packed package as a consumer installs it, then the integration suite on a real control plane
# (PETS_SKIP_INTEGRATION=1 skips it). Ends with the plain "N passed, N failed" line CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
summary="$tmp/summary.jsonl"
export PETS_TEST_SUMMARY="$summary"
failed_stages=0
other_failed=0 # failed stages that are not jest projects (jest's own failures are counted per test)
stage() {
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name"
    if "$@"; then
        echo "== $name: ok ($((SECONDS - start))s)"
    else
        echo "== $name: FAILED ($((SECONDS - start))s)"
        failed_stages=$((failed_stages + 1))
        case "$name" in unit | package | integration) ;; *) other_failed=$((other_failed + 1)) ;; esac
    fi
}

# Workflows are checked with actionlint as GitHub would read them (built from its Go module).
actionlint_stage() { bash scripts/tools/build.sh actionlint >/dev/null && "${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}/bin/actionlint" -no-color .github/workflows/*.yml; }
stage typecheck npx --no-install tsc -p tsconfig.json --noEmit
stage lint npx --no-install eslint .
stage format npx --no-install prettier --check .
stage actionlint actionlint_stage
stage build npm run --silent build
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
# A stage that failed outside jest (type errors, lint, build) counts as one failed check; a jest
# stage that failed without a failed test (it crashed, or a hook failed) counts as one too.
failed=$((failed + other_failed))
if [ "$failed_stages" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=$failed_stages; fi
echo
if [ "$skipped" -gt 0 ]; then echo "($skipped skipped)"; fi
# The last line, exactly "N passed, N failed", is what CI reads.
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$failed_stages" -eq 0 ]
