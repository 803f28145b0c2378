"""A trained model's two files in ``models/``, written and read back safely.

``<name>.pt`` is the ``state_dict`` (tensors only, on the CPU), loaded with ``weights_only=True``
(a checkpoint cannot run code) and a size cap, and checked against the model's names and shapes;
``<name>.json`` is the training record (a small dict). ``count_saved_parameters`` is the parameter
budget counted on a saved ``state_dict`` alone, as the grader counts it. ``helpers.training``
writes and reuses these files; the grader reads them with the same functions.
"""

import io
import json
import os
from pathlib import Path

import torch

MODELS_DIR = Path("models")
MAX_CHECKPOINT_BYTES = 20 * 2**20  # 1M float32 parameters are 4 MB; anything far larger is not ours to load
MAX_RECORD_BYTES = 2**20  # a training record is a few kB


class CheckpointError(RuntimeError):
    """A saved model cannot be used: missing, corrupt, too large, or made for another architecture."""



def count_saved_parameters(state):
    """``count_parameters`` from a state_dict alone ({name: tensor}).

    Left out: each ``num_batches_tracked`` counter, and the ``running_mean``/``running_var`` of a
    layer that has one, when they are vectors shaped like that layer's ``weight`` (or like each
    other, for a layer without one): batch norm's statistics, not trained weights.
    """
    total = 0
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        sibling = {name: state.get(f"{prefix}.{name}" if prefix else name)
                   for name in ("num_batches_tracked", "weight", "running_mean", "running_var")}
        if leaf == "num_batches_tracked" and value.dim() == 0:
            continue
        if leaf in ("running_mean", "running_var") and sibling["num_batches_tracked"] is not None and value.dim() == 1:
            like = sibling["weight"] if sibling["weight"] is not None else sibling[
                "running_var" if leaf == "running_mean" else "running_mean"]
            if like is not None and like.shape == value.shape:
                continue
        total += value.numel()
    return total



def checkpoint_paths(name, folder=None):
    folder = Path(folder or MODELS_DIR)
    return folder / f"{name}.pt", folder / f"{name}.json"



def save_run(name, model, record, folder=None):
    """Write ``<name>.pt`` (state_dict, on the CPU) and ``<name>.json``, each atomically."""
    pt, js = checkpoint_paths(name, folder)
    pt.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tmp = pt.with_name(f".{pt.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, pt)
    tmp = js.with_name(f".{js.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, js)



def read_record(name, folder=None):
    """The JSON record of model ``name`` (dict). Raises CheckpointError if missing or unreadable."""
    _, js = checkpoint_paths(name, folder)
    try:
        text = js.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{js} is missing: train the model (run its cell) and submit the models/ folder.") \
            from None
    except OSError as exc:
        raise CheckpointError(f"{js} cannot be read ({exc}); train the model again.") from None
    return parse_record(text, js)



def parse_record(blob, path):
    """The training record in ``blob`` (bytes of ``path``, a ``<name>.json``) as a dict; CheckpointError
    when it is not one."""
    try:
        record = json.loads(blob.decode("utf-8")) if len(blob) <= MAX_RECORD_BYTES else None
    except ValueError as exc:
        raise CheckpointError(f"{path} cannot be read ({str(exc)[:200]}); train the model again.") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{path} does not hold a training record; train the model again.")
    return record



def load_checkpoint(model, path, max_bytes=MAX_CHECKPOINT_BYTES):
    """Load saved weights into ``model`` safely.

    Only tensors are unpickled (``weights_only=True``: a checkpoint cannot run code), files over
    ``max_bytes`` are refused before reading, and the keys and shapes must match ``model``.

    Returns:
        model (on the CPU, in eval mode).
    Raises:
        CheckpointError with a message that says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: train the model (run its cell) and submit the models/ folder.")
    size = path.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{path} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit; "
                              "save only the state_dict of a model within the parameter budget.")
    state = checkpoint_state(path.read_bytes(), path, max_bytes)
    model = model.to("cpu")
    check_fits({k: tuple(v.shape) for k, v in model.state_dict().items()}, state, path, type(model).__name__)
    model.load_state_dict(state)
    return model.eval()



def checkpoint_state(blob, path, max_bytes=MAX_CHECKPOINT_BYTES):
    """The state_dict saved in ``blob`` (the bytes of checkpoint ``path``), unpickling only tensors
    (``weights_only=True``). Raises CheckpointError saying what is wrong."""
    if len(blob) > max_bytes:
        raise CheckpointError(f"{path} is over the {max_bytes / 2**20:.0f} MB limit; "
                              "save only the state_dict of a model within the parameter budget.")
    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} cannot be loaded ({reason}); train the model again.") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{path} is not a state_dict (a dict of tensors); train the model again.")
    return state



def check_fits(expected, state, path, class_name):
    """Raise CheckpointError unless ``state`` (a state_dict) has exactly the names and shapes of
    ``expected`` ({name: shape}, from the model of class ``class_name``)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if tuple(expected[k]) != tuple(state[k].shape))
    if missing or unexpected or wrong_shape:
        parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected),
                                     ("different shape", wrong_shape)) if keys]
        raise CheckpointError(f"{path} does not fit {class_name} ({'; '.join(parts)}): the class was "
                              "changed after training; train the model again.")



def load_record(name, model, folder=None, max_bytes=MAX_CHECKPOINT_BYTES):
    """Load model ``name``'s submitted weights into ``model``; returns (model, record)."""
    pt, _ = checkpoint_paths(name, folder)
    record = read_record(name, folder)
    return load_checkpoint(model, pt, max_bytes), record
