#!/bin/sh
# Checks mirror/ollama_templates.c: every row's Go template, rendered by Go's text/template as
# Ollama renders it, must write what the format writes: the fixtures' Jinja chat templates
# (rendered by jinja2) or, for formats without a fixture, the conversation as the format
# lays it out. Needs Debian's golang-go and python3-jinja2 (not part of make test).
# Usage: sh scripts/ollama/check-templates.sh   (from the repository root)
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cc -std=c11 -D_GNU_SOURCE -I. -o "$dir/dump" scripts/ollama/dump_templates.c mirror/ollama_templates.c
"$dir/dump" >"$dir/rows.json"
cp scripts/ollama/render.go "$dir/"
(cd "$dir" && GOFLAGS=-mod=mod GO111MODULE=off GOCACHE="$dir/cache" go run render.go <rows.json >rendered.json)
python3 scripts/ollama/compare.py tests/data/models <"$dir/rendered.json"
