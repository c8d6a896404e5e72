"""The test session runs offline with a throw-away HF_HOME (set by tests/conftest.py before any HF import)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from conftest import SHARED_DATA_REASON, requires_shared_data, shared_data_dir


def test_offline_environment():
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
        assert os.environ[name] == "1", name
    import huggingface_hub.constants as hub

    assert hub.HF_HUB_OFFLINE is True  # read by huggingface_hub when it was imported: after conftest set it


def test_hf_home_is_temporary(hf_home):
    import huggingface_hub.constants as hub

    assert Path(os.environ["HF_HOME"]) == hf_home and hf_home.is_dir()
    assert hf_home.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert Path(hub.HF_HOME).resolve() == hf_home.resolve()


def test_shared_data_dir_helper():
    path = shared_data_dir()
    assert path == Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    assert "../shared/data not found" in SHARED_DATA_REASON
    assert requires_shared_data.name == "skipif"
    assert requires_shared_data.args[0] is (not path.is_dir())


def test_shared_data_fixture(shared_data_dir):
    """Skips with the documented reason where ../shared/data is absent; otherwise gives the folder."""
    assert shared_data_dir.is_dir()
