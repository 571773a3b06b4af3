#!/usr/bin/env bash
# scripts/arm64-check.sh: build and install bmbench natively for arm64 inside a Debian arm64 root
# (debootstrap + qemu-user-static through binfmt_misc), then run `bmbench info` and the smoke suite
# there.  Needs root and Debian's package mirror (read from this host's apt sources).  Slow: the
# C/Cython build runs under emulation (see the README for the measured time).
#
#   sudo scripts/arm64-check.sh            # BMBENCH_ARM64_ROOT=DIR keeps the root elsewhere
set -euo pipefail
ROOT=${BMBENCH_ARM64_ROOT:-/var/tmp/bmbench-arm64-root}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)

mirror=$( { grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           || true; } | head -1 | awk '{print $2}')
[ -n "$mirror" ] || { echo "arm64-check: no Debian mirror found in this host's apt sources" >&2; exit 2; }

apt-get update -qq
apt-get install -y -qq --no-install-recommends debootstrap qemu-user-static binfmt-support >/dev/null
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "arm64-check: qemu-aarch64 binfmt not registered" >&2; exit 2; }

if [ ! -x "$ROOT/usr/bin/python3" ]; then
  echo "== debootstrap arm64 bookworm into $ROOT"
  debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,python3-dev,gcc,g++,libgomp1,ca-certificates \
    bookworm "$ROOT" "$mirror" >/dev/null
fi
for fs in proc sys dev; do mountpoint -q "$ROOT/$fs" || mount --bind "/$fs" "$ROOT/$fs"; done
trap 'for fs in dev sys proc; do umount -l "$ROOT/$fs" 2>/dev/null || true; done' EXIT
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

# a host whose HTTPS goes through its own CA (PIP_CERT / SSL_CERT_FILE) lends that bundle to the root
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
pipenv=""
if [ -n "$ca" ] && [ -f "$ca" ]; then
  cp "$ca" "$ROOT/etc/ssl/certs/bmbench-host-ca.crt"
  pipenv="PIP_CERT=/etc/ssl/certs/bmbench-host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/bmbench-host-ca.crt"
fi

rm -rf "$ROOT/src" && mkdir -p "$ROOT/src"
git -C "$SRC" archive HEAD | tar -x -C "$ROOT/src"
# a clean environment: the host's CA variables (REQUESTS_CA_BUNDLE, ...) name files of the host
inroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  $pipenv /bin/sh -c "$1"; }
echo "== build and install (native arm64 compiler, under qemu-user)"
inroot 'uname -m && python3 -m venv /venv && /venv/bin/pip install -q --upgrade pip && cd /src && /venv/bin/pip install -q .'
echo "== bmbench info (arm64)"
inroot 'cd /tmp && /venv/bin/bmbench info'
echo "== bmbench run --suite smoke (arm64)"
inroot 'cd /tmp && /venv/bin/bmbench run --suite smoke --no-report -o /tmp/smoke-arm64.json'
echo "== done in $(( $(date +%s) - t0 )) s"
