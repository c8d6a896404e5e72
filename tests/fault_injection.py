"""Run a command of hf_models with a fault injected at a chosen save point (used by tests/test_faults.py).

    python tests/fault_injection.py SCRIPT [ARGS...]

with the fault described by environment variables, each `FUNCTION:REGEX[:N]` (the N-th call, default 1st, of
FUNCTION whose destination path matches REGEX):

- `HF_MODELS_FAULT_KILL`: the process is killed (SIGKILL, as by the kernel's OOM killer or a power cut: no Python
  cleanup runs) at that call. For the writers (`torch.save`, `safetensors.save_file`, `open`), the file is first
  left half-written, as a kill during the write leaves it; for `os.replace`, the kill comes before the rename.
- `HF_MODELS_FAULT_PAUSE`: at that call the process writes `$HF_MODELS_FAULT_FLAG.paused` and waits until
  `$HF_MODELS_FAULT_FLAG.resume` exists (a file condition, not a sleep: two runs can be made to overlap exactly).

FUNCTION is one of `os.replace`, `torch.save`, `safetensors.save_file` (safetensors' writer, used by
`save_pretrained`) and `open` (Python's built-in, for writing). The command is then run as `python SCRIPT ARGS` would
run it (through `runpy`, with `__name__ == "__main__"`).
"""

from __future__ import annotations

import builtins
import io
import os
import re
import runpy
import signal
import sys
import time


def _parse(spec: str | None):
    if not spec:
        return None
    function, _, rest = spec.partition(":")
    pattern, _, count = rest.rpartition(":") if re.search(r":\d+$", rest) else (rest, "", "1")
    return function, re.compile(pattern), int(count)


KILL = _parse(os.environ.get("HF_MODELS_FAULT_KILL"))
PAUSE = _parse(os.environ.get("HF_MODELS_FAULT_PAUSE"))
FLAG = os.environ.get("HF_MODELS_FAULT_FLAG", "")
_calls: dict[tuple, int] = {}


def _hit(spec, function: str, path) -> bool:
    """Whether this call (of `function` writing `path`) is the one `spec` names."""
    if spec is None or spec[0] != function or path is None:
        return False
    if not spec[1].search(os.fspath(path)):
        return False
    key = (id(spec), function)
    _calls[key] = _calls.get(key, 0) + 1
    return _calls[key] == spec[2]


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _pause() -> None:
    with open(FLAG + ".paused", "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + 300
    while not os.path.exists(FLAG + ".resume"):
        if time.monotonic() > deadline:
            raise TimeoutError("fault_injection: never told to resume")
        time.sleep(0.05)


def _half_write(path, data: bytes) -> None:
    """Leave `path` as a kill during its write leaves it: the first half of its bytes."""
    with _real_open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def _check(function: str, path, data_for_kill=None) -> None:
    if _hit(PAUSE, function, path):
        _pause()
    if _hit(KILL, function, path):
        if data_for_kill is not None:
            _half_write(path, data_for_kill())
        _die()


_real_open = builtins.open
_real_replace = os.replace


def _open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax"):
        _check("open", file)
    return _real_open(file, mode, *args, **kwargs)


def _replace(src, dst, *args, **kwargs):
    _check("os.replace", dst)
    return _real_replace(src, dst, *args, **kwargs)


def _install() -> None:
    builtins.open = _open
    os.replace = _replace
    import safetensors.torch
    import torch

    real_torch_save = torch.save
    real_save_file = safetensors.torch.save_file

    def torch_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            def data():
                buffer = io.BytesIO()
                real_torch_save(obj, buffer, *args, **kwargs)
                return buffer.getvalue()

            _check("torch.save", f, data)
        return real_torch_save(obj, f, *args, **kwargs)

    def save_file(tensors, filename, *args, **kwargs):
        _check("safetensors.save_file", filename,
               lambda: safetensors.torch.save(tensors, *args, **kwargs))
        return real_save_file(tensors, filename, *args, **kwargs)

    torch.save = torch_save
    safetensors.torch.save_file = save_file  # before transformers imports it by name


if __name__ == "__main__":
    _install()
    script, sys.argv = sys.argv[1], sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
