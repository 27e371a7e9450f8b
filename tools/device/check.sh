#!/usr/bin/env bash
# The prepared device check (issue: the GPU path). On the lent GPU machine, through the device tool
# (carry [".whl"] as tools/device/run.sh explains; the real models as tools/device/README.md says):
#
#   bash tools/device/check.sh [SECONDS_PER_NOTEBOOK] [NOTEBOOK ...]
#
# runs the first SECONDS (default 60) of every notebook whose `gpu` profile asks for cuda (or of the
# notebooks named), each under `alignbook run --profile gpu --timeout SECONDS` with the probe on
# (alignbook.engine.probe: step time, tokens/s, TFLOP/s, MFU, peak memory; it changes no number), in a
# scratch build folder, and writes $OUT/device_check.md (the table) and $OUT/probe/*.json. A notebook
# stopped by its guard still leaves its probe record. Rehearse it here on the CPU with PROFILE=test:
#   PROFILE=test OUT=/tmp/check bash tools/device/check.sh 60 intro/01_machine
set -uo pipefail
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/lib
else
  export PYTHONPATH=$PWD/lib
fi
export PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-egl} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT/probe"
profile=${PROFILE:-gpu}
seconds=${1:-60}; shift || true
export ALIGNBOOK_BUILD="$OUT/build"
notebooks=("$@")
if [ ${#notebooks[@]} -eq 0 ]; then
  mapfile -t notebooks < <($PY tools/device/check.py list "$profile")
fi
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
echo "checking ${#notebooks[@]} notebooks, ${seconds} s each: ${notebooks[*]}"
for nb in "${notebooks[@]}"; do
  ALIGNBOOK_PROBE="$OUT/probe/${nb//\//__}.json" $PY -m alignbook.engine.cli run "$nb" --profile "$profile" \
      --timeout "$seconds" --no-progress 2>&1 | tail -3 | tee -a "$OUT/check.log"
done
$PY tools/device/check.py summary "$OUT/probe" | tee "$OUT/device_check.md"
