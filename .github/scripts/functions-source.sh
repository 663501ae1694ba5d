#!/usr/bin/env bash
# Builds the Cloud Functions source zip (deployed from source, built by Cloud Build's Node.js buildpack):
#   .github/scripts/functions-source.sh OUT.zip
# The zip holds the sources the functions import (functions/, core/, evaluation/ for the gate's ONNX evaluator,
# k8s/base/trainer-job.yaml for the retrain function's GkeJobRunner), package.json with "main" pointing at
# functions/index.ts (Node runs the TypeScript itself), the lock file and .npmrc.
set -euo pipefail
out=${1:?usage: functions-source.sh OUT.zip}
case $out in /*) ;; *) out="$PWD/$out" ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cd "$root"
mkdir -p "$stage/k8s/base"
cp -R core evaluation functions "$stage/"
cp k8s/base/trainer-job.yaml "$stage/k8s/base/"
cp package.json package-lock.json .npmrc "$stage/"
# Functions Framework loads package.json's main; the buildpack starts `functions-framework --target=ENTRY_POINT`.
(cd "$stage" && npm pkg set main=functions/index.ts 2>/dev/null)
(cd "$stage" && zip -qr -X "$out.tmp" .)
mv "$out.tmp" "$out"
echo "$out: $(du -h "$out" | cut -f1)"
