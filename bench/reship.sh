#!/usr/bin/env bash
# Re-make everything that ships, in one go, from one result cache (a change that moves the
# shipped numbers, then this once). Resumable: every finished job is cached, so running it
# again after an interruption trains only what is left.
#
#   bash bench/reship.sh CACHE_DIR [WORK_DIR]
#
# CACHE_DIR: the result cache for these runs (keep it: a rerun resumes from it).
# WORK_DIR (default CACHE_DIR/work): saved whole results, logs and the section files.
# Writes vaeimb/shipped/{reference_results.json, reference_longtail.json,
# generator_study.json, atlas/, default/} and their BENCHMARKS.md sections, then the
# generated tables (bench/tables.py). Two worker processes of one torch thread each, as
# the shipped results were made (BENCHMARKS.md names the machine of each).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:?usage: bash bench/reship.sh CACHE_DIR [WORK_DIR]}"
WORK="${2:-$CACHE/work}"
mkdir -p "$CACHE" "$WORK"
export VAEIMB_THREADS=1 PYTHONPATH="$PWD"
export VAEIMB_DATA_DIR="${VAEIMB_DATA_DIR:-$(cd ../shared/data/mnist 2>/dev/null && pwd || true)}"
PY="${PYTHON:-.venv/bin/python}"
step() { echo "== $(date -u +%H:%M) $*" | tee -a "$WORK/reship.log"; }

step "pair reference (mlp and cnn side by side, one thread each)"
git show HEAD:BENCHMARKS.md > "$WORK/before.md"
"$PY" bench/targets.py --classifiers mlp --cache-dir "$CACHE" --json "$WORK/pair.json" --out "$WORK/pair-mlp.md" \
  > "$WORK/pair-mlp.log" 2>&1 &
"$PY" bench/targets.py --classifiers cnn --cache-dir "$CACHE" --json "$WORK/pair.json" --out "$WORK/pair-cnn.md" \
  > "$WORK/pair-cnn.log" 2>&1
wait
"$PY" bench/targets.py --classifiers mlp cnn --cache-dir "$CACHE" --out BENCHMARKS.md \
  --reference-out vaeimb/shipped/reference_results.json >> "$WORK/pair.log" 2>&1  # all cached: renders both

step "long tail reference"
"$PY" bench/longtail_bench.py reference --workers 2 --cache-dir "$CACHE" --save "$WORK/longtail" \
  --ship vaeimb/shipped/reference_longtail.json --before "$WORK/before.md" --out BENCHMARKS.md > "$WORK/longtail.log" 2>&1

step "generator study (long tail, then the CNN pair)"
"$PY" bench/generators_bench.py longtail --workers 2 --cache-dir "$CACHE" --save "$WORK/gen-longtail" \
  --ship vaeimb/shipped/generator_study.json --out BENCHMARKS.md > "$WORK/gen-longtail.log" 2>&1
"$PY" bench/generators_bench.py pair --classifier cnn --workers 2 --cache-dir "$CACHE" --save "$WORK/gen-pair" \
  --ship vaeimb/shipped/generator_study.json --out BENCHMARKS.md > "$WORK/gen-pair.log" 2>&1

step "atlas at the reference budget"
"$PY" -m vaeimb atlas --pairs all --ratios 2% --approaches baseline threshold oversample vae augment-posthoc oracle \
  --seeds 0 1 2 --checkpoints 2 --workers 2 --cache-dir "$CACHE" --out "$WORK/atlas" --quiet > "$WORK/atlas.log" 2>&1
rm -rf vaeimb/shipped/atlas && mkdir -p vaeimb/shipped/atlas
cp "$WORK/atlas/atlas.csv" "$WORK/atlas/atlas.json" vaeimb/shipped/atlas/
"$PY" bench/atlas_report.py --output BENCHMARKS.md >> "$WORK/atlas.log" 2>&1

step "first view (the app's defaults)"
"$PY" bench/ship_default.py --cache-dir "$CACHE" > "$WORK/first-view.log" 2>&1

step "generated tables"
"$PY" bench/tables.py
step "done: review git diff vaeimb/shipped BENCHMARKS.md, compare seed by seed (bench/compare_reference.py)"
