#!/usr/bin/env bash
# The eot_speed benchmark's own environment for IBM ART (adversarial-robustness-toolbox, not a project
# dependency): a venv that sees the project's .venv (torch, kornia, patchgen) through a .pth file and adds ART and
# what ART needs on top. Then: .venv-art/bin/python benchmarks/eot_speed.py
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv-art
[ -x "$repo/.venv/bin/python" ] || { echo "art_env.sh: install the project first (README, command 2)" >&2; exit 2; }
python3 -m venv "$venv"
purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
"$repo/.venv/bin/python" -c "$purelib" > "$("$venv/bin/python" -c "$purelib")/patchgen_project.pth"
"$venv/bin/pip" install -q adversarial-robustness-toolbox==1.20.1
"$venv/bin/python" -c "import art, torch, patchgen; print('ART', art.__version__, 'with torch', torch.__version__)"
