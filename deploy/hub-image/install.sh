#!/bin/sh
# Install twcc-spawner into a hub image's Python without replacing any package it has.
#
#   install.sh SOURCE_DIR [pip options...]
#
# Every installed package is pinned (a constraints file from `pip freeze`), so pip
# fails if twcc-spawner's requirements disagree with the image's JupyterHub or
# KubeSpawner rather than swapping them; `pip check` then checks the result.
# $PYTHON is the image's Python (default python3). tests/z2jh runs this script
# against the chart's hub packages (.venv-z2jh) with --dry-run.
set -eu
src=${1:?usage: install.sh SOURCE_DIR [pip options...]}
shift
python=${PYTHON:-python3}
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
"$python" -m pip freeze --exclude-editable > "$pins"
"$python" -m pip install --constraint "$pins" "$@" "$src"
"$python" -m pip check
