"""What differs between the transformers 5.x releases the suite runs on (5.0 up to the newest), for the tests' own
use: the flag that groups training batches by length, and the Hub client that Trainer.push_to_hub calls."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

from transformers import TrainingArguments

_TRAINING_FIELDS = {f.name for f in fields(TrainingArguments)}


def group_by_length_args() -> list[str]:
    """Command-line flags for length-grouped training batches: `--train_sampling_strategy group_by_length` (later
    5.x releases) or `--group_by_length` (5.0)."""
    if "train_sampling_strategy" in _TRAINING_FIELDS:
        return ["--train_sampling_strategy", "group_by_length"]
    return ["--group_by_length"]


def sampling_args(strategy: str) -> list[str]:
    """`--train_sampling_strategy STRATEGY` (sequential, random or group_by_length) on any 5.x."""
    if "train_sampling_strategy" in _TRAINING_FIELDS:
        return ["--train_sampling_strategy", strategy]
    return {"group_by_length": ["--group_by_length"], "random": [], "sequential": []}[strategy]


def record_hub_uploads(monkeypatch) -> list[tuple[str, list[str]]]:
    """Replace the Hub client of `transformers.trainer` by a recorder (the Hub is unreachable in tests); return the
    list that each upload appends (repo_id, sorted file names) to. Later 5.x releases call `hf_api()`, 5.0 the
    module-level `create_repo` and `upload_folder` functions of huggingface_hub."""
    from pathlib import Path

    import transformers.trainer

    uploads: list[tuple[str, list[str]]] = []

    def create_repo(repo_id, *args, **kwargs):
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(*args, repo_id=None, folder_path=None, **kwargs):
        uploads.append((repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
        return SimpleNamespace(commit_url="fake://commit", oid="0" * 40)

    if hasattr(transformers.trainer, "hf_api"):
        api = SimpleNamespace(create_repo=create_repo, upload_folder=upload_folder)
        monkeypatch.setattr(transformers.trainer, "hf_api", lambda: api)
    else:
        monkeypatch.setattr(transformers.trainer, "create_repo", create_repo)
        monkeypatch.setattr(transformers.trainer, "upload_folder", upload_folder)
    return uploads


def record_hub_commits(monkeypatch) -> list[dict]:
    """Replace the Hub client of `PushToHubMixin.push_to_hub` (transformers.utils.hub) by a recorder; return the list
    that each commit appends {"repo_id", "files": {path in repo: bytes}} to. Later 5.x releases call `hf_api()`, 5.0
    the module-level `create_repo`, `create_branch` and `create_commit` of huggingface_hub. The model card is a
    fixed template (building it would ask the Hub)."""
    import transformers.utils.hub as hub
    from huggingface_hub import ModelCard, ModelCardData

    commits: list[dict] = []

    def create_repo(repo_id, *args, **kwargs):
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(*args, **kwargs):
        return None

    def create_commit(repo_id=None, operations=(), *args, **kwargs):
        files = {}
        for op in operations:
            with open(op.path_or_fileobj, "rb") as f:
                files[op.path_in_repo] = f.read()
        commits.append({"repo_id": repo_id, "files": files})
        return SimpleNamespace(commit_url="fake://commit", oid="0" * 40)

    if hasattr(hub, "hf_api"):
        api = SimpleNamespace(create_repo=create_repo, create_branch=create_branch, create_commit=create_commit)
        monkeypatch.setattr(hub, "hf_api", lambda: api)
    else:
        for name, function in (("create_repo", create_repo), ("create_branch", create_branch),
                               ("create_commit", create_commit)):
            monkeypatch.setattr(hub, name, function)
    card = ModelCard.from_template(ModelCardData(library_name="transformers"), model_description="test")
    monkeypatch.setattr(hub, "create_and_tag_model_card", lambda *args, **kwargs: card)
    return commits
