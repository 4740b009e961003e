#!/usr/bin/env bash
# Builds uWebSockets' EchoServer example and uSockets' load generator
# (uWebSockets' benchmarks/load_test.c) from upstream sources, in a
# temporary folder outside this repository, for run.sh. Nothing of
# upstream's is kept in the repository.
#
#   bash bench/load-race/build-uws.sh            # clones from GitHub
#   UWS_SRC=/path/uWebSockets USOCKETS_SRC=/path/uSockets bash bench/load-race/build-uws.sh
#
# UWS_SRC / USOCKETS_SRC may be a checkout or a bare git directory (their
# HEAD is used). OUT (default ${TMPDIR:-/tmp}/wsmachine-uws) receives the
# binaries; the last two lines printed are the variables run.sh takes.
# Needs git, make, gcc, g++ and zlib's headers (Debian: build-essential
# zlib1g-dev). The build is uSockets' plain epoll one, without TLS.
set -euo pipefail

out="${OUT:-${TMPDIR:-/tmp}/wsmachine-uws}"
for tool in git make gcc g++; do
    command -v "$tool" >/dev/null || { echo "build-uws.sh: $tool is needed" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/src"

# Exports HEAD of a checkout or bare git directory into a folder.
export_head() { # source destination
    local git_dir
    git_dir="$(git -C "$1" rev-parse --absolute-git-dir 2>/dev/null || echo "$1")"
    mkdir -p "$2"
    git --git-dir="$git_dir" archive HEAD | tar -x -C "$2"
    git --git-dir="$git_dir" rev-parse --short HEAD
}

if [[ -n "${UWS_SRC:-}" ]]; then
    uws_rev="$(export_head "$UWS_SRC" "$out/src")"
else
    git clone -q --depth 1 https://github.com/uNetworking/uWebSockets.git "$out/clone-uws"
    uws_rev="$(export_head "$out/clone-uws" "$out/src")"
fi
# uSockets is a submodule of uWebSockets: its folder comes empty.
rm -rf "$out/src/uSockets"
if [[ -n "${USOCKETS_SRC:-}" ]]; then
    usockets_rev="$(export_head "$USOCKETS_SRC" "$out/src/uSockets")"
else
    git clone -q --depth 1 https://github.com/uNetworking/uSockets.git "$out/clone-usockets"
    usockets_rev="$(export_head "$out/clone-usockets" "$out/src/uSockets")"
fi
rm -rf "$out/clone-uws" "$out/clone-usockets"

cd "$out/src"
echo "build-uws.sh: uWebSockets $uws_rev, uSockets $usockets_rev, in $out" >&2
make -C uSockets CC=gcc WITH_OPENSSL=0 WITH_LIBUV=0 >"$out/usockets.log" 2>&1 ||
    { tail -20 "$out/usockets.log" >&2; exit 1; }
g++ -march=native -O3 -std=c++2b -flto=auto -Isrc -IuSockets/src \
    examples/EchoServer.cpp uSockets/*.o -lz -o "$out/EchoServer" >"$out/echo.log" 2>&1 ||
    { tail -20 "$out/echo.log" >&2; exit 1; }
gcc -O3 -flto -std=c11 -DLIBUS_NO_SSL -IuSockets/src uSockets/src/*.c \
    uSockets/src/eventing/*.c uSockets/src/crypto/*.c benchmarks/load_test.c -lz \
    -o "$out/load_test" >"$out/load_test.log" 2>&1 ||
    { tail -20 "$out/load_test.log" >&2; exit 1; }
echo "UWS_REV=uWebSockets@$uws_rev+uSockets@$usockets_rev"
echo "UWS_ECHO_SERVER=$out/EchoServer"
echo "UWS_LOAD_TEST=$out/load_test"
