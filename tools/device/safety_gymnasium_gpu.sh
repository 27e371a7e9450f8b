#!/usr/bin/env bash
# Run Safety-Gymnasium notebook 2 in the `gpu` profile on this workplace's lent GPU machine.
#
# That machine has Python 3.12 and numpy 2, not the lock's Python 3.11 stack, and no network. Before
# the call, on the development machine (from the repository root):
#   ../shared/device/fetch-wheels.sh papermill ipykernel "gymnasium==0.28.1" "mujoco==3.0.0" \
#       "pettingzoo==1.23.1" xmltodict && pip download --no-deps -d .whl jax-jumpy==1.0.0
#   tools/device/slim_site.sh       # safety_gymnasium + gymnasium_robotics without their meshes/textures
# then call the device tool with carry [".whl", ".devsite"] and the command `bash tools/device/safety_gymnasium_gpu.sh`.
#
# Differences from the lock, said wherever its numbers are quoted: MuJoCo 3.0.0 (the oldest release
# with a Python 3.12 wheel; 2.3.x has none) and numpy 2. HalfCheetah compiles and steps under MuJoCo 3
# (Hopper, Walker2d and Swimmer do not: their XML uses global coordinates), but trajectories are not
# bit-identical to 2.3.3's, so these runs are a different simulator build, not a rerun of the lock.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.devsite:$PWD/lib MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nproc
python3 -c "import numpy, mujoco, torch, sys; print(sys.version.split()[0], 'numpy', numpy.__version__, 'mujoco', mujoco.__version__, 'torch', torch.__version__)"
timeout "${NOTEBOOK_TIMEOUT:-520}" python3 -m alignbook.cli run safety-gymnasium/02_ppo_vs_ppolag --profile "${PROFILE:-gpu}" "$@" 2>&1 | tee "$OUT/run.log"
status=$?
tar czf "$OUT/build.tgz" --exclude='*.pt' build/"${PROFILE:-gpu}"
exit $status
