#!/usr/bin/env bash
# Builds kmsproof with Z3 compiled from source and linked into the binary
# (`cargo build --release --features static-z3`), on a machine whose own tools may be too old
# for Z3 5: the binary needs no libz3 at run time. See docs/install.md for what was measured.
#
#   scripts/build-static.sh [--unity] [--jobs N]
#
# What Z3 5 (the `z3-src` crate's sources) needs, and where this script gets it:
# - CMake >= 3.26: the system's when new enough, else `pip install cmake ninja` into a
#   virtualenv under the target directory (PyPI);
# - a C++20 standard library with <format>: the system's C++ compiler when it has one
#   (GCC >= 13, recent Clang), else Debian's clang-16 with LLVM's libc++ (`apt-get install
#   clang-16 libc++-16-dev libc++abi-16-dev`, e.g. on Debian bookworm, whose GCC 12 lacks
#   <format>). libc++ is then linked statically too, so the binary needs neither libz3 nor
#   libc++ (only libc, libm and libgcc_s, as any Rust program).
#
# --unity compiles Z3 as a CMake unity build (16 sources a compiler run), about twice as fast;
#   Z3 does not support it officially and eleven of its targets do not compile that way, so
#   those are built file by file (Z3_NO_UNITY_TARGETS below). The default is Z3's own build.
# --jobs N: parallel compile jobs (default: cargo's, one a core).
#
# The build runs under `nice` and lands in target/static (CARGO_TARGET_DIR overrides), so it
# never invalidates the default (system libz3) build in target/.
set -euo pipefail
cd "$(dirname "$0")/.."

unity=0
jobs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unity) unity=1 ;;
    --jobs) jobs=(-j "$2"); shift ;;
    *) echo "usage: $0 [--unity] [--jobs N]" >&2; exit 2 ;;
  esac
  shift
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/static}"
tools="$CARGO_TARGET_DIR/static-tools"
mkdir -p "$tools"

sudo_if_needed() {
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then sudo "$@"; else "$@"; fi
}

# Exit status 0 when `$1` (a C++ compiler and flags) compiles `#include <format>` as C++20.
has_format() {
  echo '#include <format>
int main() { return std::format("{}", 1).size() == 1 ? 0 : 1; }' |
    $1 -std=c++20 -x c++ - -o "$tools/format-probe" >/dev/null 2>&1
}

# CMake >= 3.26.
cmake_ok() {
  local v major minor
  v=$("$1" --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1) || return 1
  major=${v%%.*} minor=${v#*.}
  [ -n "$v" ] && (( major > 3 || (major == 3 && minor >= 26) ))
}

if ! cmake_ok cmake; then
  if ! cmake_ok "$tools/venv/bin/cmake"; then
    echo "== CMake < 3.26 here: installing cmake and ninja from PyPI into $tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet cmake ninja
  fi
  export PATH="$tools/venv/bin:$PATH"
fi
if command -v ninja >/dev/null 2>&1; then
  export CMAKE_GENERATOR=Ninja
fi

toolchain="$tools/z3-toolchain.cmake"
: >"$toolchain"
if has_format "${CXX:-c++}"; then
  echo "== ${CXX:-c++} has C++20 <format>: Z3 is built with it (libstdc++ as usual)"
else
  if ! command -v clang++-16 >/dev/null 2>&1 || [ ! -e /usr/lib/llvm-16/lib/libc++.a ]; then
    echo "== ${CXX:-c++} lacks <format>: installing clang-16 and libc++ from Debian"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq clang-16 libc++-16-dev libc++abi-16-dev
  fi
  has_format "clang++-16 -stdlib=libc++ -fexperimental-library" || {
    echo "clang++-16 with libc++ cannot compile <format> either; see docs/install.md" >&2
    exit 1
  }
  echo "== building Z3 with clang-16 and libc++ (linked statically)"
  export CC=clang-16 CXX=clang++-16
  export CXXFLAGS="-stdlib=libc++ -fexperimental-library"
  # z3-sys links the C++ runtime it names in CXXSTDLIB: name only libc++'s <format> part
  # (libc++experimental.a, for -fexperimental-library); libc++ itself is linked statically below.
  export CXXSTDLIB="c++experimental"
  export RUSTFLAGS="-C link-arg=-L/usr/lib/llvm-16/lib -C link-arg=-Wl,-Bstatic -C link-arg=-lc++ -C link-arg=-lc++abi -C link-arg=-Wl,-Bdynamic"
  echo "set(CMAKE_C_COMPILER clang-16)" >>"$toolchain"
  echo "set(CMAKE_CXX_COMPILER clang++-16)" >>"$toolchain"
fi

if [ "$unity" = 1 ]; then
  echo "== unity build (16 sources a compiler run; targets that do not compile so, file by file)"
  cat >"$tools/z3-no-unity.cmake" <<'EOF'
# Included after Z3's project(): the targets whose sources do not compile together (a
# `using namespace`, a `static` function or a header without an include guard in one file
# clashes with the next one) are built file by file.
function(_z3_no_unity)
  foreach(t IN LISTS Z3_NO_UNITY_TARGETS)
    if(TARGET ${t})
      set_property(TARGET ${t} PROPERTY UNITY_BUILD OFF)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _z3_no_unity)
EOF
  cat >>"$toolchain" <<EOF
set(CMAKE_UNITY_BUILD ON CACHE BOOL "")
set(CMAKE_UNITY_BUILD_BATCH_SIZE 16 CACHE STRING "")
set(Z3_NO_UNITY_TARGETS ast ast_sls cmd_context lp model nlsat qe_lite sat_smt smt smtlogic_tactics api api_dll)
set(CMAKE_PROJECT_INCLUDE "$tools/z3-no-unity.cmake" CACHE FILEPATH "")
EOF
fi
if [ -s "$toolchain" ]; then
  export CMAKE_TOOLCHAIN_FILE="$toolchain"
fi

start=$(date +%s)
nice -n 15 cargo build --release --locked --features static-z3 --bin kmsproof "${jobs[@]}"
bin="$CARGO_TARGET_DIR/release/kmsproof"
echo "== built in $(( ($(date +%s) - start) / 60 )) min: $bin ($(stat -c %s "$bin") bytes)"
"$bin" --version
if ldd "$bin" | grep -q 'libz3'; then
  echo "error: $bin links libz3" >&2
  exit 1
fi
ldd "$bin"
