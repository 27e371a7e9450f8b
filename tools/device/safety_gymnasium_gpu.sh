#!/usr/bin/env bash
# What produced book/safety-gymnasium/measured/gpu_ppo_vs_ppolag_halfcheetah.json (see run.sh for the setup):
#   device tool, carry [".whl", ".devsite"], command `MUJOCO_GL=disable bash tools/device/safety_gymnasium_gpu.sh`
exec bash "$(dirname "$0")/run.sh" 520:safety-gymnasium/02_ppo_vs_ppolag
