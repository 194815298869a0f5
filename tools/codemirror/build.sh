#!/usr/bin/env bash
# Builds internal/web/ui/static/vendor/codemirror.js, CodeMirror 6 as one
# minified ES module, and codemirror.LICENSE.txt, the licences of every
# package in it, from the versions pinned in package-lock.json. The output
# is deterministic: CI runs this script and fails when the committed files
# differ from what it produces (git diff --exit-code).
#
# Our own JS needs no build step; only this vendored file is built.
set -euo pipefail
cd "$(dirname "$0")"
out=../../internal/web/ui/static/vendor
mkdir -p "$out"
# npm ci installs exactly the lock file; esbuild's binary comes from its
# platform package (an optional dependency), so no install script runs.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
./node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --charset=utf8 --metafile=meta.json --log-level=warning \
  --outfile="$out/codemirror.js"
node licenses.mjs meta.json > "$out/codemirror.LICENSE.txt"
rm -f meta.json
