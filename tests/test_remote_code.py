"""A folder saved by hf_models loads with `trust_remote_code=True` where hf_models is not installed.

The model is saved here; a fresh Python process, in which `import hf_models` is made impossible, loads it through
transformers' Auto classes from the code files saved next to the weights, and prints its outputs as JSON.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import REFUSE_HF_MODELS
from model_tester import max_abs_diff
from test_modeling_bert import BertModelTester

import hf_models
from hf_models import BertForSequenceClassification

PACKAGE_BERT = Path(hf_models.__file__).resolve().parent / "bert"
AUTO_HEADS = {
    "AutoConfig": "configuration_bert.BertConfig",
    "AutoModel": "modeling_bert.BertModel",
    "AutoModelForPreTraining": "modeling_bert.BertForPreTraining",
    "AutoModelForMaskedLM": "modeling_bert.BertForMaskedLM",
    "AutoModelForNextSentencePrediction": "modeling_bert.BertForNextSentencePrediction",
    "AutoModelForSequenceClassification": "modeling_bert.BertForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_bert.BertForTokenClassification",
    "AutoModelForQuestionAnswering": "modeling_bert.BertForQuestionAnswering",
    "AutoModelForMultipleChoice": "modeling_bert.BertForMultipleChoice",
}

# Runs in the fresh interpreter, after the guard that makes `import hf_models` impossible (conftest).
CHILD = REFUSE_HF_MODELS + textwrap.dedent(
    r"""
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    folder, inputs = sys.argv[1], json.loads(sys.argv[2])
    inputs = {k: torch.tensor(v) for k, v in inputs.items()}
    result = {}
    with torch.no_grad():
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        result["seq_cls"] = {"class": type(model).__name__, "module": type(model).__module__,
                             "logits": model(**inputs).logits.tolist()}
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        result["base"] = {"class": type(model).__name__, "module": type(model).__module__,
                          "last_hidden_state": model(**inputs).last_hidden_state.tolist()}
        model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
        out = model(**inputs)
        result["mlm"] = {"class": type(model).__name__, "module": type(model).__module__,
                         "logits_shape": list(out.logits.shape),
                         "tied": model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight,
                         "last_hidden_state": model.bert(**inputs).last_hidden_state.tolist()}
    result["hf_models_imported"] = any(m == "hf_models" or m.startswith("hf_models.") for m in sys.modules)
    print("RESULT " + json.dumps(result))
    """
)


def imported_modules(source: str) -> list[str]:
    """The module names a source file imports (relative ones with their leading dots)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tester = BertModelTester()
    config, inputs = tester.prepare_config_and_inputs_for_common()
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    folder = tmp_path_factory.mktemp("remote_code_model")
    model.save_pretrained(folder)
    return model, folder, inputs


def test_saved_folder_has_code_and_full_auto_map(saved):
    _, folder, _ = saved
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "configuration_bert.py", "modeling_bert.py"} <= names, names
    for name in ("configuration_bert.py", "modeling_bert.py"):  # the package's own code, as it is
        assert (folder / name).read_text(encoding="utf-8") == (PACKAGE_BERT / name).read_text(encoding="utf-8")
        for module in imported_modules((folder / name).read_text(encoding="utf-8")):
            # only torch, transformers, the standard library and single-dot siblings saved next to it
            assert not module.startswith("hf_models"), f"{name} imports {module}"
            if module.startswith("."):
                assert (folder / f"{module[1:]}.py").is_file(), f"{name} imports {module}, not saved with it"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "hf_bert"
    assert config["auto_map"] == AUTO_HEADS
    assert config["architectures"] == ["BertForSequenceClassification"]


@pytest.mark.slow
def test_loads_with_trust_remote_code_without_hf_models(saved, tmp_path):
    model, folder, inputs = saved
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["HF_HOME"] = str(tmp_path / "hf_home")  # its own module cache: the code is copied from the folder
    payload = json.dumps({k: v.tolist() for k, v in inputs.items()})
    proc = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, str(folder), payload],
        cwd=tmp_path,  # outside the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result in child output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["hf_models_imported"] is False

    for key, cls in (("seq_cls", "BertForSequenceClassification"), ("base", "BertModel"), ("mlm", "BertForMaskedLM")):
        assert result[key]["class"] == cls
        module = result[key]["module"]
        assert module.startswith("transformers_modules.") and module.endswith(".modeling_bert"), module

    with torch.no_grad():
        expected = model(**inputs)
        encoder = model.bert(**inputs).last_hidden_state
    mask = inputs["attention_mask"].bool()
    assert max_abs_diff(torch.tensor(result["seq_cls"]["logits"]), expected.logits) <= 1e-6
    assert max_abs_diff(torch.tensor(result["base"]["last_hidden_state"])[mask], encoder[mask]) <= 1e-6
    # the MLM head is not in a sequence-classification checkpoint (newly initialised); its encoder is
    assert result["mlm"]["logits_shape"] == [*inputs["input_ids"].shape, model.config.vocab_size]
    assert result["mlm"]["tied"] is True
    assert max_abs_diff(torch.tensor(result["mlm"]["last_hidden_state"])[mask], encoder[mask]) <= 1e-6


def test_child_really_cannot_import_hf_models(tmp_path):
    """The refusal works: the same guard, with nothing else, leaves `import hf_models` failing."""
    guard = CHILD.split("import torch", 1)[0] + "print('GUARD OK')\n"
    proc = subprocess.run([sys.executable, "-I", "-c", guard], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "GUARD OK" in proc.stdout, proc.stderr
    # and without the guard, the editable install is importable from anywhere: the guard is what keeps it out
    proc = subprocess.run([sys.executable, "-I", "-c", "import hf_models"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, "hf_models is not importable even without the guard (test setup changed)"
