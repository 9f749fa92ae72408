#!/usr/bin/env bash
# The runs behind REPRODUCTION.md: each shipped sweep at its `sample` profile (or at full scale
# with SCALE=full), one after another, into runs/NAME.zarr; then `python analysis/reproduce.py`.
# Usage: bash analysis/reproduction_runs.sh [NAME ...]   (default: all, in this order)
# Rerunning skips done tasks (a `run` into an existing store only adds what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
LHPC=${LHPC:-.venv/bin/landscape-hpc}
SCALE=${SCALE:-sample}
WORKERS=${WORKERS:-$(nproc)}
ORDER=(relu_population_protocol relu_population few_neurons_one_neuron channels_loss_levels
       few_neurons_four_neuron symmetry_induced channels_saddle_line)
names=("${@:-${ORDER[@]}}")
mkdir -p runs
for name in "${names[@]}"; do
  scale=(--scale "$SCALE")
  [[ $SCALE == full || $name == channels_saddle_line ]] && scale=()
  echo "== $(date -u +%FT%TZ) $name ${scale[*]}"
  "$LHPC" run "sweeps/$name.yaml" --store "runs/$name.zarr" "${scale[@]}" --workers "$WORKERS"
  "$LHPC" status "runs/$name.zarr"
done
echo "== $(date -u +%FT%TZ) all done"
