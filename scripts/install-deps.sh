#!/usr/bin/env bash
# Installs what parget's tests and benchmark use beyond the Rust toolchain:
# real servers and peers from Debian's packages. Idempotent: packages that
# are present are not fetched again. Without root (or apt-get) it only says
# what is missing; the tests that need a missing program then fail with a
# message naming it.
set -euo pipefail

# program -> Debian package
# (nginx is /usr/sbin/nginx, often not on a user's PATH; tinyproxy is
# /usr/bin/tinyproxy; mkfs.ext4 makes the small disk a full-disk test
# loop-mounts.)
declare -A packages=(
    [nginx]=nginx-light
    [tinyproxy]=tinyproxy
    [microsocks]=microsocks
    [mkfs.ext4]=e2fsprogs
)

missing=()
for program in "${!packages[@]}"; do
    if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
        missing+=("${packages[$program]}")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
    exit 0
fi
echo "== apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts some daemons on install; the tests start their own.
for service in nginx lighttpd tinyproxy; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
