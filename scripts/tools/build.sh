#!/usr/bin/env bash
# Build (or reuse) the real tools the integration tests run against, from Go modules only
# (Go toolchain + Go module proxy; nothing else is downloaded).
#
#   scripts/tools/build.sh [pulumi|kubernetes-provider|control-plane|kwok|local-path-provisioner|
#                           cert-manager|actionlint|node|coredns|real-nodes|all]...
#   (default: all)
#
# Every tool lands in ${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}/<name>-<version>/bin and is
# keyed by its version (scripts/tools/versions.env): a tool whose directory is complete is reused
# as is, so a second run takes well under a second. Sources for the wrapper modules are generated
# in a temp dir; GOCACHE/GOMODCACHE stay at the Go defaults so rebuilds after a version bump are warm.
# At the end prints PETS_TOOLS_BIN=<dir>, a directory of symlinks to every built binary
# (source scripts/tools/env.sh to put it on PATH with the offline Pulumi settings).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"

CACHE="${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}"
BIN_LINKS="$CACHE/bin"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod"
# Keep the toolchain's own settings but never inherit a GOOS/GOARCH meant for something else.
unset GOOS GOARCH GOWORK 2>/dev/null || true
export GOWORK=off

log() { printf '[tools] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s; }

command -v go >/dev/null || die "go is not on PATH"

# modjson MODULE@VERSION FIELD -> value of a field of `go mod download -json` (downloads if needed).
modfield() {
  local json
  json="$(go mod download -json "$1")" || { printf '%s\n' "$json" >&2; return 1; }
  if grep -q '"Error"' <<<"$json"; then printf '%s\n' "$json" >&2; return 1; fi
  sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$json" | head -n1
}

# ensure NAME VERSION BUILDFN: reuse $CACHE/NAME-VERSION if complete, else BUILDFN OUTDIR WORKDIR.
ensure() {
  local name=$1 version=$2 fn=$3 dir work t0 rc
  dir="$CACHE/$name-$version"
  SUM_NAME="$name-$version"
  if [[ -f "$dir/.complete" ]]; then
    log "$name $version: cached ($dir)"
    link_bins "$dir/bin"
    return 0
  fi
  t0=$(now)
  log "$name $version: building (go $(go env GOVERSION), GOMAXPROCS/cores $(nproc))"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial/bin"
  work="$(mktemp -d "${TMPDIR:-/tmp}/pets-tools-$name.XXXXXX")"
  set +e
  ( set -e; "$fn" "$dir.partial" "$work" )
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    log "$name $version: FAILED after $(( $(now) - t0 ))s (work dir kept: $work)"
    return $rc
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  printf '%s\n' "$version" >"$dir/.complete"
  log "$name $version: built in $(( $(now) - t0 ))s"
  link_bins "$dir/bin"
}

link_bins() {
  mkdir -p "$BIN_LINKS"
  find "$BIN_LINKS" -xtype l -delete 2>/dev/null || true   # links into removed tool dirs
  local f
  for f in "$1"/*; do
    [[ -e "$f" ]] || continue
    ln -sfn "$f" "$BIN_LINKS/$(basename "$f")"
  done
}

# go.sum pinning. The checksum database reachable here has no entry for several github.com/pulumi
# versions (404 for pkg/v3 v3.248.0, provider/v4 pseudo-versions), nor for local-path-provisioner
# v0.0.37 and its sig-storage-lib-external-provisioner v11.0.1, so those are exempted from it
# (GONOSUMDB) and verified against the go.sum committed in scripts/tools/gosum/<name>-<version>.sum
# instead: that file is copied in before `go mod tidy`, and the go.sum that results must be
# identical. Without a pinned file the resulting go.sum is only kept in the tool cache;
# PETS_TOOLS_UPDATE_SUMS=1 records it in scripts/tools/gosum/.
SUMS="$HERE/gosum"
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi,github.com/rancher/local-path-provisioner,sigs.k8s.io/sig-storage-lib-external-provisioner"
SUM_NAME=""   # set by ensure(): <name>-<version>
sums_in() { if [[ -f "$SUMS/$SUM_NAME.sum" ]]; then cp "$SUMS/$SUM_NAME.sum" go.sum; fi; }
sums_out() {
  local pinned="$SUMS/$SUM_NAME.sum"
  if [[ "${PETS_TOOLS_UPDATE_SUMS:-0}" == 1 ]]; then
    mkdir -p "$SUMS"; cp go.sum "$pinned"; log "  recorded $pinned"
  elif [[ -f "$pinned" ]]; then
    cmp -s go.sum "$pinned" || { diff -u "$pinned" go.sum | head -n 40 >&2; die "go.sum differs from $pinned"; }
    log "  go.sum matches $(basename "$pinned") ($(wc -l <go.sum) lines)"
  else
    log "  no pinned go.sum for $SUM_NAME (PETS_TOOLS_UPDATE_SUMS=1 records one)"
  fi
}

tidy() {
  local t0; t0=$(now)
  sums_in
  go mod tidy
  sums_out
  log "  go mod tidy (downloads) in $(( $(now) - t0 ))s"
}

gobuild() { # go build flags... packages...: logs the packages (args after the last flag value)
  local t0 a skip=0 pkgs=()
  t0=$(now)
  go build -trimpath "$@"
  for a in "$@"; do
    if ((skip)); then skip=0; continue; fi
    case "$a" in -o|-ldflags|-tags) skip=1 ;; -*) ;; *) pkgs+=("${a##*/}") ;; esac
  done
  log "  go build ${pkgs[*]} in $(( $(now) - t0 ))s"
}

# ---------------------------------------------------------------------------------------------
# Pulumi CLI + Node.js language host (+ the dynamic-provider shim script shipped in sdk/v3), one dir.
pulumi_clipboard_replace() { # the non-local replaces of pkg/v3's go.mod (the clipboard fork)
  awk '/^replace[[:space:]]*\(/{b=1;next} b&&/^\)/{b=0;next}
       b{print "replace " $0; next} /^replace /{print}' "$1" |
    awk '$NF !~ /^\.|^\// && $0 ~ /=>/' | sed 's/^replace[[:space:]]*/replace /'
}

build_pulumi() {
  local out=$1 work=$2 v="v$PULUMI_VERSION" pkgmod sdkdir
  mkdir -p "$work/cli" "$work/nodejs"
  cd "$work/cli"
  SUM_NAME="pulumi-$PULUMI_VERSION"
  pkgmod="$(modfield "github.com/pulumi/pulumi/pkg/v3@$v" GoMod)"
  sdkdir="$(modfield "github.com/pulumi/pulumi/sdk/v3@$v" Dir)"
  {
    printf 'module pets.local/tools/pulumi\n\ngo 1.25\n\n'
    # pkg/v3's go.mod has `replace sdk/v3 => ../sdk`: require sdk/v3 at the same version instead.
    printf 'require (\n\tgithub.com/pulumi/pulumi/pkg/v3 %s\n\tgithub.com/pulumi/pulumi/sdk/v3 %s\n)\n\n' "$v" "$v"
    pulumi_clipboard_replace "$pkgmod"
    printf '\ntool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi\n'
  } >go.mod
  tidy
  gobuild -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
    -o "$out/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  # Dynamic providers (pulumi.dynamic.Resource) are served by this shell script, which runs
  # @pulumi/pulumi's cmd/dynamic-provider from the program's node_modules.
  install -m 0755 "$sdkdir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out/bin/pulumi-resource-pulumi-nodejs"
  cp go.mod "$out/pulumi.go.mod"; cp go.sum "$out/pulumi.go.sum"
  # The CLI treats language hosts as "bundled" plugins and expects them next to its own binary.
  build_language_nodejs "$out" "$work/nodejs"
}

# Node.js language host (pulumi-language-nodejs).
#  module:     github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 at
#              $PULUMI_LANGUAGE_NODEJS_MODULE_VERSION (with pkg/v3 + sdk/v3 at $PULUMI_VERSION);
#  legacy-sdk: the host as it was inside the sdk/v3 module itself (<= v3.68.0), used when the module
#              proxy does not serve the pseudo-version above.
build_language_nodejs() {
  local out=$1 work=$2 v="v$PULUMI_VERSION" pkgmod
  cd "$work"
  SUM_NAME="pulumi-language-nodejs-$(nodejs_host_key)"
  case "$PULUMI_LANGUAGE_NODEJS_BUILD" in
    module)
      pkgmod="$(modfield "github.com/pulumi/pulumi/pkg/v3@$v" GoMod)"
      {
        printf 'module pets.local/tools/pulumi-language-nodejs\n\ngo 1.25\n\nrequire (\n'
        printf '\tgithub.com/pulumi/pulumi/pkg/v3 %s\n\tgithub.com/pulumi/pulumi/sdk/v3 %s\n' "$v" "$v"
        printf '\tgithub.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 %s\n)\n\n' \
          "$PULUMI_LANGUAGE_NODEJS_MODULE_VERSION"
        pulumi_clipboard_replace "$pkgmod"
        printf '\ntool github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3\n'
      } >go.mod
      tidy
      gobuild -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
        -o "$out/bin/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
      ;;
    legacy-sdk)
      local lv="v$PULUMI_LANGUAGE_NODEJS_LEGACY_SDK_VERSION"
      printf 'module pets.local/tools/pulumi-language-nodejs\n\ngo 1.24\n\nrequire github.com/pulumi/pulumi/sdk/v3 %s\n\ntool github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs\n' "$lv" >go.mod
      tidy
      gobuild -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$lv" \
        -o "$out/bin/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
      ;;
    *) die "PULUMI_LANGUAGE_NODEJS_BUILD must be module or legacy-sdk" ;;
  esac
  cp go.mod "$out/pulumi-language-nodejs.go.mod"; cp go.sum "$out/pulumi-language-nodejs.go.sum"
}
nodejs_host_key() {
  if [[ "$PULUMI_LANGUAGE_NODEJS_BUILD" == module ]]; then echo "$PULUMI_VERSION"
  else echo "sdk$PULUMI_LANGUAGE_NODEJS_LEGACY_SDK_VERSION"; fi
}

# ---------------------------------------------------------------------------------------------
# Kubernetes provider (pulumi-resource-kubernetes). Its main package embeds files generated from
# schema.json by `go generate` (generate.go reads $VERSION); they are not in the module zip, so the
# module is copied to a writable dir and the generator is run there first.
build_kubernetes_provider() {
  local out=$1 work=$2 mod="github.com/pulumi/pulumi-kubernetes/provider/v4"
  local mv="$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION" ver="$PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION"
  local json dir sum
  # The checksum database behind the proxy here does not know this pseudo-version, so it is
  # verified against the h1: hash pinned in versions.env instead.
  json="$(go mod download -json "$mod@$mv")"
  if grep -q '"Error"' <<<"$json"; then printf '%s\n' "$json" >&2; die "cannot download $mod@$mv"; fi
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
  sum="$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")"
  [[ "$sum" == "$PULUMI_KUBERNETES_PROVIDER_MODULE_SUM" ]] ||
    die "$mod@$mv has checksum $sum, versions.env pins $PULUMI_KUBERNETES_PROVIDER_MODULE_SUM"
  cp -R "$dir" "$work/provider"
  chmod -R u+w "$work/provider"
  cd "$work/provider"
  # go.mod has `replace sdk/v4 => ../sdk` (the repo's sibling dir, not in the module zip): use the
  # published sdk/v4 of the same release instead. No `go mod tidy`: it would pull the test deps.
  go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
    -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$ver"
  local t0; t0=$(now)
  sums_in
  go mod download
  (cd cmd/pulumi-resource-kubernetes && VERSION="$ver" go generate .)
  log "  go generate (schema-embed.json, terraform-mapping-embed.json) in $(( $(now) - t0 ))s"
  gobuild -ldflags "-s -w -X $mod/pkg/version.Version=$ver" \
    -o "$out/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
  sums_out
  cp go.mod go.sum "$out/"
}

# ---------------------------------------------------------------------------------------------
# Control plane: etcd + kube-apiserver, kube-controller-manager, kube-scheduler, kubectl.
build_etcd() {
  local out=$1 work=$2 v="v$ETCD_VERSION"
  cd "$work"
  printf 'module pets.local/tools/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=gomod-$v" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3
  cp go.mod go.sum "$out/"
}

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
build_kubernetes() { build_k8s_wrapper "$1" "$2" kubernetes "${K8S_CMDS[@]}"; }
# Real nodes: kubelet and kube-proxy from the same module and version (own tool dir and go.sum,
# so adding them did not rebuild or re-pin the control plane).
K8S_NODE_CMDS=(kubelet kube-proxy)
build_kubernetes_node() { build_k8s_wrapper "$1" "$2" kubernetes-node "${K8S_NODE_CMDS[@]}"; }

# build_k8s_wrapper OUT WORK MODULE-SUFFIX CMD...: a wrapper module around k8s.io/kubernetes.
build_k8s_wrapper() {
  local out=$1 work=$2 modname=$3 v="v$KUBERNETES_VERSION" upmod info date major minor staging c
  shift 3
  local cmds=("$@")
  cd "$work"
  upmod="$(modfield "k8s.io/kubernetes@$v" GoMod)"
  info="$(modfield "k8s.io/kubernetes@$v" Info)"
  date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
  major="${KUBERNETES_VERSION%%.*}"
  minor="${KUBERNETES_VERSION#*.}"; minor="${minor%%.*}"
  staging="v0.${KUBERNETES_VERSION#*.}"
  {
    printf 'module pets.local/tools/%s\n\n' "$modname"
    grep -E '^go [0-9]' "$upmod"
    echo
    # upstream's godebug line(s) (the main module decides the default GODEBUG settings)
    awk '/^godebug[[:space:]]*\(/{b=1} b{print} b&&/^\)/{b=0;next} !b&&/^godebug /{print}' "$upmod"
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$v"
    # every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.<minor>.<patch>`
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\t\1 => \1 '"$staging"'#p' "$upmod" | LC_ALL=C sort
    printf ')\n\n'
    for c in "${cmds[@]}"; do printf 'tool k8s.io/kubernetes/cmd/%s\n' "$c"; done
  } >go.mod
  tidy
  local p ld=""
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  local pkgs=()
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  gobuild -ldflags "-s -w$ld" -o "$out/bin/" "${pkgs[@]}"
  cp go.mod go.sum "$out/"
}

# CoreDNS for the real nodes' cluster DNS: upstream's coremain with only the plugins the test
# cluster uses (CoreDNS's documented way to choose plugins at compile time: a main that imports
# them and sets dnsserver.Directives). All of them would pull in the cloud SDKs (route53, azure,
# clouddns) for nothing. The directive order is taken from the module's own zdirectives.go.
COREDNS_PLUGINS=(bind errors log health ready kubernetes)
build_coredns() {
  local out=$1 work=$2 v="v$COREDNS_VERSION" dir p order
  cd "$work"
  dir="$(modfield "github.com/coredns/coredns@$v" Dir)"
  order="$(sed -n 's/^[[:space:]]*"\([a-z0-9_]*\)",$/\1/p' "$dir/core/dnsserver/zdirectives.go")"
  for p in "${COREDNS_PLUGINS[@]}"; do
    grep -qx "$p" <<<"$order" || die "CoreDNS $v has no directive '$p'"
  done
  {
    printf '// Generated by scripts/tools/build.sh: CoreDNS %s with the plugins the test cluster uses.\n' "$v"
    printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/core/dnsserver"\n\t"github.com/coredns/coredns/coremain"\n\n'
    for p in "${COREDNS_PLUGINS[@]}"; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
    printf ')\n\nfunc init() {\n\tdnsserver.Directives = []string{\n'
    while read -r p; do
      [[ " ${COREDNS_PLUGINS[*]} " == *" $p "* ]] && printf '\t\t"%s",\n' "$p"
    done <<<"$order"
    printf '\t}\n}\n\nfunc main() { coremain.Run() }\n'
  } >main.go
  printf 'module pets.local/tools/coredns\n\n%s\n\nrequire github.com/coredns/coredns %s\n' \
    "$(grep -E '^go [0-9]' "$(modfield "github.com/coredns/coredns@$v" GoMod)")" "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=gomod-$v" -o "$out/bin/coredns" .
  cp go.mod go.sum main.go "$out/"
}

build_kwok() {
  local out=$1 work=$2 v="v$KWOK_VERSION"
  cd "$work"
  printf 'module pets.local/tools/kwok\n\ngo 1.24\n\nrequire sigs.k8s.io/kwok %s\n\ntool sigs.k8s.io/kwok/cmd/kwok\n' "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$KUBERNETES_VERSION" \
    -o "$out/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
  # kwok itself has no built-in stages (kwokctl passes them); keep the ones kwokctl uses by default
  # (node-initialize, node-heartbeat-with-lease, pod-ready/-complete/-delete), from the same module,
  # as one multi-document config for `kwok --config`.
  local dir f
  dir="$(modfield "sigs.k8s.io/kwok@$v" Dir)"
  mkdir -p "$out/share"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "$dir/kustomize/stage/$f" ]] || die "kwok stage $f not found in $dir"
    printf -- '---\n'
    cat "$dir/kustomize/stage/$f"
  done >"$out/share/default-stages.yaml"
  cp go.mod go.sum "$out/"
}

# ---------------------------------------------------------------------------------------------
# rancher local-path provisioner (a main package at its module root), run by the integration tests
# as a process with the Deployment's own command line, config files and ServiceAccount token.
build_local_path_provisioner() {
  local out=$1 work=$2 v="v$LOCAL_PATH_PROVISIONER_VERSION"
  cd "$work"
  printf 'module pets.local/tools/local-path-provisioner\n\ngo 1.26.3\n\nrequire github.com/rancher/local-path-provisioner %s\n\ntool github.com/rancher/local-path-provisioner\n' "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X main.VERSION=$v" -o "$out/bin/local-path-provisioner" github.com/rancher/local-path-provisioner
  cp go.mod go.sum "$out/"
}

# ---------------------------------------------------------------------------------------------
# cert-manager's controllers (github.com/cert-manager/cert-manager, pkg/controller/...) behind our
# own small main (scripts/tools/cert-manager/main.go): upstream's main is in the cmd/controller
# module, which the Go module proxy does not serve (404). Same version as the CRDs
# (cert-manager-crds.sh); the cache key includes a hash of main.go so editing it rebuilds.
build_cert_manager() {
  local out=$1 work=$2 v="v$CERT_MANAGER_VERSION"
  cd "$work"
  SUM_NAME="cert-manager-$CERT_MANAGER_VERSION"
  cp "$HERE/cert-manager/main.go" .
  printf 'module pets.local/tools/cert-manager\n\ngo 1.25.0\n\nrequire github.com/cert-manager/cert-manager %s\n' "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$v" \
    -o "$out/bin/cert-manager-controller" .
  cp go.mod go.sum main.go "$out/"
}
cert_manager_key() { echo "$CERT_MANAGER_VERSION-$(sha256sum "$HERE/cert-manager/main.go" | cut -c1-12)"; }

# actionlint: lints .github/workflows as GitHub reads them (the test command runs it).
build_actionlint() {
  local out=$1 work=$2 v="v$ACTIONLINT_VERSION"
  cd "$work"
  printf 'module pets.local/tools/actionlint\n\ngo 1.24\n\nrequire github.com/rhysd/actionlint %s\n\ntool github.com/rhysd/actionlint/cmd/actionlint\n' "$v" >go.mod
  tidy
  gobuild -ldflags "-s -w -X github.com/rhysd/actionlint.version=$v" -o "$out/bin/actionlint" github.com/rhysd/actionlint/cmd/actionlint
  cp go.mod go.sum "$out/"
}

# ---------------------------------------------------------------------------------------------
do_pulumi() {
  # one dir for the CLI and its language host, keyed by both
  local key="$PULUMI_VERSION"
  [[ "$(nodejs_host_key)" == "$PULUMI_VERSION" ]] || key+="-nodejs-$(nodejs_host_key)"
  ensure pulumi "$key" build_pulumi
}
do_provider() {
  ensure pulumi-resource-kubernetes "$PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION" build_kubernetes_provider
}
do_control_plane() {
  ensure etcd "$ETCD_VERSION" build_etcd
  ensure kubernetes "$KUBERNETES_VERSION" build_kubernetes
}
do_kwok() { ensure kwok "$KWOK_VERSION" build_kwok; }
do_local_path() { ensure local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" build_local_path_provisioner; }
do_cert_manager() { ensure cert-manager "$(cert_manager_key)" build_cert_manager; }
do_node() { ensure kubernetes-node "$KUBERNETES_VERSION" build_kubernetes_node; }
do_coredns() { ensure coredns "$COREDNS_VERSION" build_coredns; }

main() {
  local targets=("$@") t t0
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  t0=$(now)
  mkdir -p "$CACHE"
  for t in "${targets[@]}"; do
    case "$t" in
      pulumi) do_pulumi ;;
      kubernetes-provider|provider) do_provider ;;
      control-plane|kubernetes) do_control_plane ;;
      etcd) ensure etcd "$ETCD_VERSION" build_etcd ;;
      kwok) do_kwok ;;
      local-path-provisioner) do_local_path ;;
      cert-manager) do_cert_manager ;;
      actionlint) ensure actionlint "$ACTIONLINT_VERSION" build_actionlint ;;
      node) do_node ;;
      coredns) do_coredns ;;
      real-nodes) do_control_plane; do_node; do_coredns; do_local_path ;;
      all) do_pulumi; do_provider; do_control_plane; do_kwok; do_local_path; do_cert_manager; do_node; do_coredns; ensure actionlint "$ACTIONLINT_VERSION" build_actionlint ;;
      -h|--help|help) sed -n '2,14p' "$0"; exit 0 ;;
      *) die "unknown target '$t' (pulumi|kubernetes-provider|control-plane|kwok|local-path-provisioner|cert-manager|actionlint|node|coredns|real-nodes|all)" ;;
    esac
  done
  log "done in $(( $(now) - t0 ))s"
  echo "PETS_TOOLS_BIN=$BIN_LINKS"
}

main "$@"
