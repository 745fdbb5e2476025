#!/usr/bin/env bash
# Regenerate weights/*.onnx from the bundled weights/*.weights.h5 (every model card in weights/),
# then check each against its Keras model. Run after adding or retraining bundled weights.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m mesocli export --bundled --force --verify
"$PY" -m mesocli export --bundled --check
