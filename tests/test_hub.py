"""push_to_hub goes through transformers' standard path and uploads everything a Hub user needs.

The Hub is unreachable here, so the HfApi client that transformers uses is replaced by a recorder: the test checks
what would be uploaded, not the network.
"""

import json
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard, ModelCardData

import hf_models
import transformers.utils.hub as hub


class RecordingApi:
    def __init__(self):
        self.commits = []

    def create_repo(self, repo_id, **kwargs):
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(self, **kwargs):
        pass

    def create_commit(self, repo_id, operations, **kwargs):
        files = {}
        for op in operations:
            with open(op.path_or_fileobj, "rb") as f:
                files[op.path_in_repo] = f.read()
        self.commits.append({"repo_id": repo_id, "files": files})
        return SimpleNamespace(commit_url="fake://commit")


@pytest.fixture
def api(monkeypatch):
    recorder = RecordingApi()
    monkeypatch.setattr(hub, "hf_api", lambda: recorder)
    card = ModelCard.from_template(ModelCardData(library_name="transformers"), model_description="test")
    monkeypatch.setattr(hub, "create_and_tag_model_card", lambda repo_id, tags=None, token=None: card)
    return recorder


def test_push_to_hub_uploads_weights_config_and_code(api):
    config = hf_models.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, num_labels=3
    )
    model = hf_models.BertForSequenceClassification(config)
    model.push_to_hub("someone/tiny-hf-bert")
    assert len(api.commits) == 1
    commit = api.commits[0]
    assert commit["repo_id"] == "someone/tiny-hf-bert"
    files = commit["files"]
    for name in ("model.safetensors", "config.json", "modeling_bert.py", "configuration_bert.py", "README.md"):
        assert name in files, f"{name} not uploaded: {sorted(files)}"
    config_json = json.loads(files["config.json"])
    assert config_json["model_type"] == "hf_bert"
    assert config_json["auto_map"]["AutoModelForSequenceClassification"] == (
        "modeling_bert.BertForSequenceClassification"
    )
    assert set(config_json["auto_map"]) >= {"AutoConfig", "AutoModel", "AutoModelForMaskedLM"}
