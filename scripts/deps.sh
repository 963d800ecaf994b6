#!/usr/bin/env bash
# Install what vex_net needs to build, test and benchmark — only what is
# missing, so running it again is a no-op. Debian/Ubuntu: apt-get as root
# (otherwise prints the command). macOS/FreeBSD: prints the command to run.
set -euo pipefail

DEBIAN_PKGS=(
  build-essential pkg-config liburing-dev libcmocka-dev cmake
  libyaml-dev  # production_server's --config file
  libssl-dev   # production_server TLS listeners (OpenSSL 3)
  zlib1g-dev libbrotli-dev libzstd-dev  # response compression: gzip, brotli, zstd
  gzip brotli zstd  # the tests decompress every compressed response with the real tools
  libcrypt-dev  # Basic authentication against crypt(3) hashes (yescrypt, sha512-crypt)
  testssl.sh bsdextrautils  # the TLS scan test (testssl.sh needs hexdump)
  slowhttptest  # the slowloris / slow body / slow read abuse tests
  clang libclang-rt-14-dev valgrind
  node-llhttp  # llhttp's C sources: make fuzz-replay/fuzz-llhttp's differential check
  wrk apache2-utils hyperfine curl nginx-light h2o prometheus util-linux procps lsof
  nghttp2-client iproute2
  python3 python3-matplotlib python3-numpy python3-scipy python3-pytest
  python3-pytest-xdist  # the server suite in parallel processes (TEST_JOBS)
  python3-fusepy fuse3  # coldfile_bench.py --slow-fs-ms: scripts/slowfs.py, a FUSE "slow disk"
)
BREW_PKGS="cmocka libyaml openssl@3 brotli zstd wrk hyperfine python-matplotlib nginx"
FREEBSD_PKGS="gmake cmocka libyaml brotli zstd lsof wrk hyperfine py311-matplotlib py311-scipy py311-pytest py311-pytest-xdist nginx"

case "$(uname -s)" in
  Darwin)
    echo "macOS: install the tools with:  brew install $BREW_PKGS  (then: make BACKEND=kqueue test)"
    exit 0 ;;
  FreeBSD)
    echo "FreeBSD: install the tools with:  pkg install -y $FREEBSD_PKGS  (then: gmake BACKEND=kqueue test)"
    exit 0 ;;
esac

if ! command -v dpkg-query >/dev/null; then
  echo "deps: not a Debian-like system; install the equivalents of: ${DEBIAN_PKGS[*]}" >&2
  exit 0
fi

missing=()
for p in "${DEBIAN_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#DEBIAN_PKGS[@]} packages present"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages; run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# nginx must not keep running as a system service: benchmarks start their own.
$cmd -qq
if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
pkill -x nginx 2>/dev/null || true
echo "deps: done"
