#!/bin/sh
# Builds the llama.cpp release ferry is measured against, CPU-only, into a cache outside the tree:
# the git bundle inside the npm package node-llama-cpp@3.22.1 (llama.cpp tag v0.5.0).
#   scripts/llama/build.sh [TARGET...]      prints the build directory on its last line
# Cache: $FERRY_LLAMA_CACHE (default ~/.cache/ferry/llama). Targets default to the tools the
# goldens and the benchmarks use. Nothing in `make test` runs this.
set -eu
NPM_PKG=node-llama-cpp@3.22.1
TAG=v0.5.0
cache=${FERRY_LLAMA_CACHE:-$HOME/.cache/ferry/llama}
src=$cache/src-$TAG
build=$cache/build-$TAG
[ $# -gt 0 ] || set -- llama-quantize llama-gguf-split llama-imatrix llama-completion llama-perplexity \
	llama-bench ggml-base
# cmake and a C++ compiler come from Debian (not part of `make test`'s packages)
sh "$(dirname "$0")/../deps.sh" cmake g++ >&2
mkdir -p "$cache"
if [ ! -d "$src/.git" ]; then
	tmp=$(mktemp -d "$cache/pack.XXXXXX")
	(cd "$tmp" && npm pack --silent "$NPM_PKG" >/dev/null &&
		tar xzf ./*.tgz package/llama/gitRelease.bundle package/llama/llama.cpp.info.json)
	tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$tmp/package/llama/llama.cpp.info.json")
	if [ "$tag" != "$TAG" ]; then
		echo "build.sh: $NPM_PKG carries llama.cpp $tag, expected $TAG" >&2
		exit 1
	fi
	git clone -q "$tmp/package/llama/gitRelease.bundle" "$src.tmp"
	mv "$src.tmp" "$src"
	rm -rf "$tmp"
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
		-DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
		-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >"$cache/cmake.log" 2>&1 ||
		{ tail -20 "$cache/cmake.log" >&2; exit 1; }
fi
cmake --build "$build" -j"$(nproc)" --target "$@" >"$cache/build.log" 2>&1 ||
	{ tail -30 "$cache/build.log" >&2; exit 1; }
echo "$build"
