"""Test-session setup shared by every test of hf_models.

The environment is fixed at import time, before any test module imports transformers, huggingface_hub, datasets or
evaluate (they read these variables once, when they are first imported):

- the Hugging Face Hub is unreachable in CI, so every HF library runs offline;
- `HF_HOME` points at a fresh temporary folder for the whole session, so tests never read or write the user's cache
  (remote-code modules, datasets, metrics); it is removed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

_HF_HOME = tempfile.mkdtemp(prefix="hf_models_tests_hf_home_")
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": _HF_HOME,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
)
# Libraries imported before this point (by a pytest plugin, say) already read the old values: say so loudly.
_ALREADY_IMPORTED = [name for name in ("huggingface_hub", "transformers", "datasets", "evaluate") if name in sys.modules]
if _ALREADY_IMPORTED:
    warnings.warn(
        f"tests/conftest.py: {', '.join(_ALREADY_IMPORTED)} imported before the offline environment was set; "
        "they may not run offline",
        stacklevel=1,
    )

import pytest
import torch

SEED = 0
SHARED_DATA_REASON = "../shared/data not found: real-data test needs the project's shared data folder"


def shared_data_dir() -> Path:
    """The project's real-data folder, `../shared/data` next to the repository (may not exist)."""
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


requires_shared_data = pytest.mark.skipif(not shared_data_dir().is_dir(), reason=SHARED_DATA_REASON)


@pytest.fixture(name="shared_data_dir", scope="session")
def shared_data_dir_fixture() -> Path:
    """The `../shared/data` folder; skips the test with a clear reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(SHARED_DATA_REASON)
    return path


# Python source that makes `import hf_models` impossible in a fresh interpreter. hf_models is installed in editable mode
# (a finder registered by a .pth file in site-packages), so neither `-I` nor the working directory keeps it out: a
# meta-path finder that refuses it does. Tests of `trust_remote_code` loading run their code after it.
REFUSE_HF_MODELS = textwrap.dedent(
    r"""
    import importlib.abc, json, sys

    class RefuseHfModels(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "hf_models" or name.startswith("hf_models."):
                raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
            return None

    sys.meta_path.insert(0, RefuseHfModels())
    try:
        import hf_models  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("hf_models is importable in the child process: the test would prove nothing")
    """
)


def run_without_hf_models(code: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """Run `code` (after REFUSE_HF_MODELS) in a fresh offline interpreter with `args` as sys.argv[1:]."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run([sys.executable, "-c", REFUSE_HF_MODELS + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False)


@pytest.fixture(scope="session")
def hf_home() -> Path:
    """The session's temporary HF_HOME."""
    return Path(_HF_HOME)


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same torch RNG state, so random init and random inputs are reproducible."""
    torch.manual_seed(SEED)
    yield


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one thread avoids OpenMP spin-waiting against other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a longer test (seconds, not milliseconds)")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HF_HOME, ignore_errors=True)
