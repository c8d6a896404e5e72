"""push_to_hub goes through transformers' standard path and uploads everything a Hub user needs.

The Hub is unreachable here, so the HfApi client that transformers uses is replaced by a recorder: the test checks
what would be uploaded, not the network.
"""

import json
from types import SimpleNamespace

import pytest
from compat import record_hub_commits

import hf_models


@pytest.fixture
def api(monkeypatch):
    return SimpleNamespace(commits=record_hub_commits(monkeypatch))


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
