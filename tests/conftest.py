"""Test-session setup shared by every test of hf_models.

The environment is fixed at import time, before any test module imports transformers, huggingface_hub, datasets or
evaluate (they read these variables once, when they are first imported):

- the Hugging Face Hub is unreachable in CI, so every HF library runs offline;
- `HF_HOME` points at a fresh temporary folder for the whole session, so tests never read or write the user's cache
  (remote-code modules, datasets, metrics); it is removed when the session ends.

Every test runs with one torch thread (tiny models on shared cores: more threads only spin against each other); a test
that needs more says so with `@pytest.mark.threads(n)`. Tests that take more than about 5 s on 2 cores are marked
`@pytest.mark.slow` (`-m "not slow"` skips them). `--durations-json PATH` (or the environment variable
`HF_MODELS_TEST_DURATIONS_JSON=PATH`) writes every test's duration and the suite's wall time to a JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_for_the_session():
    """One torch thread from the start, so that module- and session-scoped fixtures (a model trained once for a
    module, say) run single-threaded too; `_torch_threads` then sets each test's count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _torch_threads(request, _one_torch_thread_for_the_session):
    """One torch thread per test unless the test is marked `@pytest.mark.threads(n)`: tiny models on a shared 2-core
    machine run faster, and steadier, without OpenMP threads spin-waiting against other processes."""
    marker = request.node.get_closest_marker("threads")
    wanted = int(marker.args[0]) if marker is not None and marker.args else 1
    if wanted < 1:
        raise pytest.UsageError(f"@pytest.mark.threads({wanted}): the number of threads must be at least 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(wanted)
    yield
    torch.set_num_threads(threads)


DURATIONS_ENV = "HF_MODELS_TEST_DURATIONS_JSON"


def pytest_addoption(parser):
    parser.addoption("--durations-json", metavar="PATH", default=None,
                     help="write every test's duration and the session's wall time to PATH as JSON "
                          f"(or set {DURATIONS_ENV})")


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "slow: a test that takes more than about 5 s on 2 cores (deselect: -m 'not slow')")
    config.addinivalue_line("markers", "threads(n): run the test with n torch threads instead of the default 1")
    path = config.getoption("--durations-json", default=None) or os.environ.get(DURATIONS_ENV)
    if path:
        config.pluginmanager.register(_DurationsRecorder(Path(path)), "hf_models_durations_json")


class _DurationsRecorder:
    """Collects the setup + call + teardown time of every test and writes them, slowest first, when the session ends."""

    def __init__(self, path: Path):
        self.path = path
        self.started = time.perf_counter()
        self.tests: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        entry = self.tests.setdefault(report.nodeid, {"nodeid": report.nodeid, "seconds": 0.0, "outcome": "passed",
                                                      "slow": "slow" in report.keywords})
        entry["seconds"] += report.duration
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    def pytest_sessionfinish(self, session, exitstatus):
        tests = sorted(self.tests.values(), key=lambda t: -t["seconds"])
        for entry in tests:
            entry["seconds"] = round(entry["seconds"], 4)
        summary = {
            "wall_seconds": round(time.perf_counter() - self.started, 2),
            "tests": len(tests),
            "test_seconds": round(sum(t["seconds"] for t in tests), 2),
            "slow_tests": sum(t["slow"] for t in tests),
            "slow_test_seconds": round(sum(t["seconds"] for t in tests if t["slow"]), 2),
            "outcomes": {o: sum(t["outcome"] == o for t in tests) for o in ("passed", "failed", "error", "skipped")},
            "torch_threads_default": 1,
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "exit_status": int(exitstatus),
        }
        try:
            import transformers

            summary["transformers"] = transformers.__version__
        except ImportError:  # pragma: no cover
            pass
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"summary": summary, "tests": tests}, indent=1) + "\n", encoding="utf-8")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HF_HOME, ignore_errors=True)
