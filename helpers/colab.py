"""Google Colab: the few things the notebooks do differently there.

Each release notebook starts with a set-up cell that, on Colab only, mounts your Google Drive and
works in the course folder there (``My Drive/hw3`` unless you change ``COLAB_FOLDER``), so
``helpers/`` imports and everything the notebooks save stays in your Drive. The submission cell
uses this module to save the notebook it runs in (Colab keeps it in the browser until it saves to
Drive) and to offer the zip for download.
"""

import importlib.util
import json
import os
from pathlib import Path


def on_colab():
    """True inside a Google Colab runtime."""
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ImportError:  # no "google" package at all
        return False


def save_open_notebook(path, timeout_s=30):
    """Write the notebook this code runs in, as Colab holds it now, to ``path``.

    Returns:
        True when it was written; False off Colab, or when Colab did not answer.
    """
    if not on_colab():
        return False
    from google.colab import _message

    try:
        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout_s)
        notebook = reply["ipynb"]
    except Exception:  # an older or changed Colab: the caller says how to save by hand
        return False
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return True


def offer_download(path):
    """Start the browser's download of ``path`` (Colab only); True when offered."""
    if not on_colab():
        return False
    from google.colab import files

    files.download(str(path))
    return True
