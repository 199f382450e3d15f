#!/usr/bin/env bash
# examples/run.sh — builds jiffy's examples (needs only a C++20 compiler and
# CMake) and runs the two flagship ones: audio_demo (arguments are passed on
# to it), then game_frame.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/examples -DCMAKE_BUILD_TYPE=Release -DJIFFY_BUILD_TESTS=OFF -DJIFFY_BUILD_BENCH=OFF > /dev/null
cmake --build build/examples -j"$(nproc)" > /dev/null
build/examples/examples/audio_demo "$@"
echo
exec build/examples/examples/game_frame
