#!/usr/bin/env bash
# Copy the installed safety_gymnasium and gymnasium_robotics (pure Python) into .devsite/ for a device
# call, without the textures and meshes that the velocity tasks never load (the two wheels are 53 MB,
# over the device tool's 64 MiB transfer limit together with the other wheels).
set -euo pipefail
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .devsite && mkdir .devsite
cp -r "$site/safety_gymnasium" "$site/gymnasium_robotics" .devsite/
find .devsite -name __pycache__ -prune -exec rm -rf {} +
rm -rf .devsite/safety_gymnasium/assets/textures .devsite/safety_gymnasium/assets/meshes
find .devsite/gymnasium_robotics -type d -name assets -prune -exec rm -rf {} +
grep -qx '/.devsite/' .git/info/exclude 2>/dev/null || echo '/.devsite/' >> .git/info/exclude
du -sh .devsite
