# Source me (bash/zsh):  . scripts/tools/env.sh
# Puts the tools built by scripts/tools/build.sh on PATH and sets what offline Pulumi needs.
# Builds nothing; run scripts/tools/build.sh first. It chooses no backend and no passphrase:
# scripts/pulumi-env.sh (pets_pulumi_env) does that, per state directory, never an empty one.

PETS_TOOLS_CACHE="${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}"
PETS_TOOLS_BIN="$PETS_TOOLS_CACHE/bin"
export PETS_TOOLS_CACHE PETS_TOOLS_BIN
case ":$PATH:" in
  *":$PETS_TOOLS_BIN:"*) ;;
  *) export PATH="$PETS_TOOLS_BIN:$PATH" ;;
esac

# No network: never look for CLI updates or download plugins, and don't refuse the Automation
# API's CLI because of a version check. Plugins (pulumi-language-nodejs, pulumi-resource-kubernetes,
# pulumi-resource-pulumi-nodejs) are found on PATH ("ambient" plugins), so this must stay unset:
unset PULUMI_IGNORE_AMBIENT_PLUGINS
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

# The test cluster's kubeconfig (scripts/cluster/up.sh writes it there).
export PETS_CLUSTER_DIR="${PETS_CLUSTER_DIR:-$HOME/.cache/pulumi-pets-cluster}"
export PETS_KUBECONFIG="$PETS_CLUSTER_DIR/kubeconfig"
