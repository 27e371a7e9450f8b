#!/usr/bin/env bash
# Run notebooks in one profile (default `gpu`) on this workplace's lent GPU machine, through the device tool.
#
#   usage (as the device tool's command, carry [".whl", ".devsite"]):
#     bash tools/device/run.sh SECONDS:CHAPTER/NOTEBOOK [SECONDS:CHAPTER/NOTEBOOK ...]
#   e.g. MUJOCO_GL=disable bash tools/device/run.sh 520:safety-gymnasium/02_ppo_vs_ppolag
#
# That machine has Python 3.12, numpy 2 and torch with CUDA, not the lock's Python 3.11 stack, and no
# network. Before the call, on the development machine (from the repository root):
#   ../shared/device/fetch-wheels.sh papermill ipykernel "gymnasium==0.28.1" "mujoco==3.0.0" \
#       "pettingzoo==1.23.1" xmltodict && pip download --no-deps -d .whl jax-jumpy==1.0.0
#   tools/device/slim_site.sh       # safety_gymnasium + gymnasium_robotics without their meshes/textures
#
# Differences from the lock, said wherever its numbers are quoted: MuJoCo 3.0.0 (the oldest release
# with a Python 3.12 wheel; 2.3.x has none) and numpy 2. HalfCheetah compiles and steps under MuJoCo 3
# (Hopper, Walker2d and Swimmer do not: their XML uses global coordinates), but trajectories are not
# bit-identical to 2.3.3's. The machine has no libEGL: set MUJOCO_GL=disable unless frames are rendered.
# Each notebook runs under the runner's `--timeout SECONDS` (which kills its whole process tree; a
# shell `timeout` would leave the papermill kernel holding the log pipe open), so one that overruns
# still leaves the others' results; build/<profile> comes back as $OUT/build.tgz (checkpoints left
# out) with the log.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.devsite:$PWD/lib MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
profile=${PROFILE:-gpu}
nproc
python3 -c "import numpy, mujoco, torch, sys; print(sys.version.split()[0], 'numpy', numpy.__version__, 'mujoco', mujoco.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
status=0
for item in "$@"; do
  python3 -m alignbook.engine.cli run "${item#*:}" --profile "$profile" --timeout "${item%%:*}" 2>&1 | tee -a "$OUT/run.log" || status=1
done
tar czf "$OUT/build.tgz" --exclude='*.pt' --exclude='*.safetensors' --exclude='*.bin' "build/$profile"
exit $status
