#!/usr/bin/env bash
# Part 3's checks on a machine with a GPU, in one go (one short lease of a lent GPU is enough):
#   1. the PyTorch notebook (source version: reference solutions + hidden tests) executed top to
#      bottom; it picks CUDA and runs its "full" setting: base and batch norm + dropout models for
#      20 epochs, the reference own model for 10, and the grader's accuracy checks;
#   2. the input pipeline against a DataLoader, on the GPU;
#   3. the own-model recipe search (benchmarks/own_model_search.py) until the deadline.
# Usage: bash benchmarks/gpu_part3.sh OUT_DIR [SEARCH_DEADLINE_SECONDS]
# Needs HW3_DATA_DIR where there is no internet. Results (records, search, best weights, log) go to OUT_DIR.
set -u
out=${1:?usage: gpu_part3.sh OUT_DIR [SEARCH_DEADLINE_SECONDS]}
deadline=${2:-240}
export PYTHONUNBUFFERED=1
mkdir -p "$out"
work=$(mktemp -d)
start=$(date +%s)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
  python3 benchmarks/execute_notebook.py part3_pytorch_cnn.ipynb --workdir "$work/p3" --save "$out/part3_executed.ipynb"
  cp "$work"/p3/models/*.json "$out"/ 2>/dev/null
  echo "=== notebook done at $(( $(date +%s) - start )) s"
  python3 benchmarks/torch_pipeline.py --device auto --images 20000 --reps 2
  echo "=== pipeline done at $(( $(date +%s) - start )) s"
  python3 benchmarks/own_model_search.py --deadline "$deadline" --out "$out"
  echo "=== all done at $(( $(date +%s) - start )) s"
} 2>&1 | tee "$out/log.txt"
