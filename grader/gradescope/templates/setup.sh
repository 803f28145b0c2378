#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# It installs Python 3.11 and the pinned requirements into /autograder/venv, downloads the
# CIFAR-10 archive (MD5-checked) into /autograder/cache, and prepares the grading folder.
set -euo pipefail
SOURCE=/autograder/source
VENV=/autograder/venv
export DEBIAN_FRONTEND=noninteractive

if ! command -v python3.11 >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends software-properties-common ca-certificates
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev
fi
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install --no-cache-dir --upgrade pip
# The CPU build of torch (no CUDA libraries: the grader measures accuracy on the CPU).
TORCH_PIN=$(grep -E '^torch==' "$SOURCE/requirements.txt" | awk '{print $1}')
"$VENV/bin/pip" install --no-cache-dir "$TORCH_PIN" --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/pip" install --no-cache-dir -r "$SOURCE/requirements.txt"

# CIFAR-10, decoded once into the image. It holds the test labels: root only. Each run gives the
# kernels a copy without them (grader.isolation.sandbox.share_data_cache).
mkdir -p /autograder/cache
cd "$SOURCE"
HW3_CACHE_DIR=/autograder/cache PYTHONPATH="$SOURCE" "$VENV/bin/python" -c \
    "from helpers.data import load_cifar10; load_cifar10(progress=False)"
chmod -R go-rwx /autograder/cache

# The grading folder (nbgrader gradebook and release) for this source, built once.
PYTHONPATH="$SOURCE" HW3_CACHE_DIR=/autograder/cache "$VENV/bin/python" -m grader gradescope prepare --root /autograder
# Hidden tests and solutions: root only.
chmod -R go-rwx "$SOURCE" /autograder/grading
