"""tests/conftest.py's own machinery: one torch thread by default, `@pytest.mark.threads(n)`, `--durations-json`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def test_one_torch_thread_by_default():
    assert torch.get_num_threads() == 1


@pytest.mark.threads(2)
def test_the_threads_marker_sets_the_count():
    assert torch.get_num_threads() == 2


def _run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)],
                          cwd=folder, capture_output=True, text=True, timeout=300, check=False)


def test_durations_json_is_written_only_when_asked(tmp_path):
    """--durations-json PATH writes every test's seconds, outcome and slow mark, and the session's summary."""
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent(
        """
        import pytest

        def test_fast():
            pass

        @pytest.mark.slow
        def test_marked_slow():
            pass

        def test_failing():
            assert False
        """), encoding="utf-8")
    out = tmp_path / "durations.json"
    proc = _run_pytest(tmp_path, "--durations-json", str(out))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # test_failing fails
    data = json.loads(out.read_text(encoding="utf-8"))
    summary = data["summary"]
    assert summary["tests"] == 3 and summary["slow_tests"] == 1 and summary["exit_status"] == 1
    assert summary["outcomes"] == {"passed": 2, "failed": 1, "error": 0, "skipped": 0}
    tests = {t["nodeid"].split("::")[-1]: t for t in data["tests"]}
    assert set(tests) == {"test_fast", "test_marked_slow", "test_failing"}
    assert tests["test_marked_slow"]["slow"] and not tests["test_fast"]["slow"]
    assert tests["test_failing"]["outcome"] == "failed"
    assert all(t["seconds"] >= 0 for t in data["tests"])
    out.unlink()
    assert _run_pytest(tmp_path, "-m", "not slow", "-k", "not failing").returncode == 0
    assert not out.exists()
