# Source me. Puts a pulumi CLI on PATH for the scripts: the user's own if it has one, otherwise
# the one scripts/tools/build.sh builds from Go modules (offline), and a passphrase for local
# file-backend state that is generated once per state directory, never written in the repo and
# never empty.
#   pets_pulumi_env <state-dir> [keep-login]
# With keep-login, a backend the user already chose (PULUMI_BACKEND_URL or `pulumi login`) wins;
# its passphrase (if it needs one) is the user's to give, as with any pulumi command.
pets_pulumi_env() {
    local state="$1" keep="${2:-}" root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if [ "${PETS_USE_BUILT_TOOLS:-}" = 1 ] || ! command -v pulumi >/dev/null 2>&1; then
        bash "$root/scripts/tools/build.sh" pulumi kubernetes-provider >&2
        # shellcheck source=tools/env.sh
        . "$root/scripts/tools/env.sh"
    fi
    export PULUMI_SKIP_UPDATE_CHECK=true
    # An empty passphrase encrypts every secret with a key anyone can derive: never use one.
    if [ -n "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "$PULUMI_CONFIG_PASSPHRASE" ]; then
        echo "[pets] ignoring the empty PULUMI_CONFIG_PASSPHRASE: secrets are never encrypted with an empty passphrase" >&2
        unset PULUMI_CONFIG_PASSPHRASE
    fi
    if [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
        echo "[pets] PULUMI_CONFIG_PASSPHRASE_FILE=$PULUMI_CONFIG_PASSPHRASE_FILE is missing or empty: refusing an empty passphrase" >&2
        return 1
    fi
    if [ "$keep" = keep-login ] && { [ -n "${PULUMI_BACKEND_URL:-}" ] || pulumi whoami >/dev/null 2>&1; }; then
        return 0
    fi
    mkdir -p "$state/backend"
    export PULUMI_BACKEND_URL="file://$state/backend"
    if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        if [ ! -s "$state/passphrase" ]; then
            (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("base64url"))' >"$state/passphrase")
        fi
        export PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"
    fi
}

# A workspace for throw-away stacks: the project's files linked into <dir>, so `pulumi stack
# init` writes its Pulumi.<stack>.yaml (and encryption salt) there, never into the repo.
#   pets_workspace <dir>
pets_workspace() {
    local ws="$1" root f
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    mkdir -p "$ws"
    for f in Pulumi.yaml index.ts components stacks liberator package.json tsconfig.json node_modules; do
        [ -e "$root/$f" ] && ln -sfn "$root/$f" "$ws/$f"
    done
}
