#!/usr/bin/env bash
# The runs behind REPRODUCTION.md: each shipped sweep at its `sample` profile where it has one
# (a subset of the published sweep's tasks, sized to fit a session), else in full, one after
# another, into runs/NAME.zarr; then `python analysis/reproduce.py` makes the report.
# Usage: bash analysis/reproduction_runs.sh [NAME ...]   (default: all, in this order)
# SCALE=full runs every sweep in full.  A rerun skips done tasks and adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
LHPC=${LHPC:-.venv/bin/landscape-hpc}
WORKERS=${WORKERS:-$(nproc)}
ORDER=(relu_population_protocol relu_population few_neurons_one_neuron channels_loss_levels
       few_neurons_four_neuron symmetry_induced channels_saddle_line channels_channel_stop
       relu_like channels_jump channels_scaling)
names=("${@:-${ORDER[@]}}")
mkdir -p runs
for name in "${names[@]}"; do
  scale=()
  if [[ ${SCALE:-sample} == sample ]] && grep -q "^  sample:" "sweeps/$name.yaml"; then
    scale=(--scale sample)
  fi
  echo "== $(date -u +%FT%TZ) $name ${scale[*]}"
  "$LHPC" run "sweeps/$name.yaml" --store "runs/$name.zarr" "${scale[@]}" --workers "$WORKERS"
  "$LHPC" status "runs/$name.zarr"
done
echo "== $(date -u +%FT%TZ) all done"
