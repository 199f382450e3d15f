#!/usr/bin/env bash
# tests/run.sh — installs what jiffy's tests need, then builds and runs the
# whole suite in every configuration CI checks:
#
#   release   GCC, optimised; the suite runs 3 times in a row (flakes show up)
#   debug     GCC -O0 with debug checks on
#   tsan      Clang + ThreadSanitizer
#   asan      Clang + AddressSanitizer + UndefinedBehaviorSanitizer
#   noexcept  GCC with -fno-exceptions -fno-rtti
#   aarch64   AArch64 cross build, tests run under qemu-user
#   lint      clang-format check (tests/check_format.sh) and clang-tidy
#             (tests/run_clang_tidy.sh); the Clang builds above also build
#             with -Wthread-safety -Werror=thread-safety
#
# Usage: tests/run.sh [config...]     (default: all of the above)
# Packages are installed from Debian only when missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

all_configs=(release debug tsan asan noexcept aarch64 lint)
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=("${all_configs[@]}")

# gdb: the debugger view's test (tests/gdb/check_gdb.py) runs the native builds' program under it
# (gdb-multiarch, below, the aarch64 build's under qemu-user's gdb stub).
packages=(cmake make g++ python3 spin doctest-dev libbenchmark-dev libboost-fiber-dev libboost-context-dev gdb)
for c in "${configs[@]}"; do
  case "$c" in
    tsan|asan) packages+=(clang libclang-rt-14-dev) ;;
    aarch64) packages+=(g++-aarch64-linux-gnu qemu-user-static gdb-multiarch) ;;
    lint) packages+=(clang-format clang-tidy) ;;
    release|debug|noexcept) ;;
    *) echo "tests/run.sh: unknown configuration '$c' (known: ${all_configs[*]})" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing missing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
mkdir -p build
total_passed=0
total_failed=0
failed_configs=()
for c in "${configs[@]}"; do
  if [ "$c" = lint ]; then
    # Two checks, counted as two tests.
    echo "== lint: format and clang-tidy"
    for check in tests/check_format.sh tests/run_clang_tidy.sh; do
      if "$check" > "build/lint-$(basename "$check" .sh).log" 2>&1; then
        total_passed=$((total_passed + 1))
      else
        cat "build/lint-$(basename "$check" .sh).log"
        total_failed=$((total_failed + 1))
        [[ " ${failed_configs[*]} " == *" lint "* ]] || failed_configs+=(lint)
      fi
    done
    continue
  fi
  echo "== $c: configure and build"
  cmake --preset "$c" > "build/$c-build.log" 2>&1 || { cat "build/$c-build.log"; failed_configs+=("$c"); total_failed=$((total_failed + 1)); continue; }
  if ! cmake --build --preset "$c" -j"$jobs" >> "build/$c-build.log" 2>&1; then
    grep -E "error|warning" "build/$c-build.log" | head -50 || true
    failed_configs+=("$c"); total_failed=$((total_failed + 1)); continue
  fi
  repeat=()
  [ "$c" = release ] && repeat=(--repeat until-fail:3)
  echo "== $c: test"
  set +e
  ctest --preset "$c" -j"$jobs" "${repeat[@]}" 2>&1 | tee "build/$c-test.log" | grep -E "tests passed|\*\*\*|Failed|Timeout|Exception"
  set -e
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of" "build/$c-test.log" | tail -1 || true)
  if [ -z "$line" ]; then
    failed_configs+=("$c"); total_failed=$((total_failed + 1)); continue
  fi
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
  n=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
  total_passed=$((total_passed + n - f))
  total_failed=$((total_failed + f))
  [ "$f" -ne 0 ] && failed_configs+=("$c")
done

echo
if [ ${#failed_configs[@]} -gt 0 ]; then
  echo "== failing configurations: ${failed_configs[*]} (logs: build/<config>-build.log, build/<config>-test.log)"
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
