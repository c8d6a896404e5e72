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
from hf_models.auto import FAMILIES

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


# ----------------------------------------------------------------------------------------------------------------------
# Every family: every head its folder's auto_map lists loads through its Auto class from the saved code alone
# ----------------------------------------------------------------------------------------------------------------------
def _tiny_bert():
    config = hf_models.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=24, max_position_embeddings=16, num_labels=2)  # 2: QA loads too
    return hf_models.BertForSequenceClassification(config)


def _tiny_word2vec():
    from hf_models.word2vec import Vocabulary

    config = hf_models.Word2VecConfig(vector_size=8, objective="hierarchical_softmax")
    return hf_models.Word2VecModel(config, vocab=Vocabulary(["the", "cat", "고양이", "sat"], [9, 5, 3, 2]))


def _tiny_ngram():
    return hf_models.NGramLanguageModel.fit(["the cat sat", "고양이 가 잔다", "the cat ran"], order=2,
                                            smoothing="kneser_ney")


def _tiny_rnn():
    return hf_models.RnnForCausalLM(hf_models.RnnConfig(vocab_size=23, hidden_size=8, num_layers=1, num_labels=3))


def _tiny_seq2seq():
    config = hf_models.Seq2SeqConfig(source_vocab_size=20, target_vocab_size=21, embedding_size=8, hidden_size=8,
                                     encoder_layers=1, decoder_layers=1, pad_token_id=0, bos_token_id=1,
                                     eos_token_id=2)
    return hf_models.Seq2SeqForConditionalGeneration(config)


def _tiny_transformer():
    config = hf_models.TransformerConfig(vocab_size=20, d_model=8, encoder_layers=1, decoder_layers=1,
                                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                                         decoder_ffn_dim=16, max_position_embeddings=16)
    return hf_models.TransformerForConditionalGeneration(config)


def _tiny_gpt():
    config = hf_models.GPTConfig(vocab_size=20, n_positions=16, n_embd=8, n_layer=1, n_head=2, bos_token_id=1,
                                 eos_token_id=2)
    return hf_models.GPTForCausalLM(config)


def _tiny_t5():
    config = hf_models.T5Config(vocab_size=20, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2,
                                relative_attention_num_buckets=4, relative_attention_max_distance=8)
    return hf_models.T5ForConditionalGeneration(config)


# family -> a tiny model of one of its heads (a new family adds one here; the test below fails until it does)
TINY_MODELS = {
    "bert": _tiny_bert,
    "word2vec": _tiny_word2vec,
    "ngram": _tiny_ngram,
    "rnn": _tiny_rnn,
    "seq2seq": _tiny_seq2seq,
    "transformer": _tiny_transformer,
    "gpt": _tiny_gpt,
    "t5": _tiny_t5,
}

# Runs in the fresh interpreter that cannot import hf_models: loads every entry of each folder's auto_map.
CHILD_EVERY_HEAD = REFUSE_HF_MODELS + textwrap.dedent(
    r"""
    import transformers

    result = {}
    for folder in sys.argv[1:]:
        config = json.load(open(f"{folder}/config.json", encoding="utf-8"))
        loaded = {}
        for auto_name in config["auto_map"]:
            # another head's classifier may have another shape (a new one is initialised, as transformers does)
            kwargs = {} if auto_name == "AutoConfig" else {"ignore_mismatched_sizes": True}
            obj = getattr(transformers, auto_name).from_pretrained(folder, trust_remote_code=True, **kwargs)
            entry = {"class": type(obj).__name__, "module": type(obj).__module__}
            if auto_name != "AutoConfig" and type(obj).__name__ == config["architectures"][0]:
                entry["sums"] = {k: float(v.double().sum()) for k, v in obj.state_dict().items()}
            loaded[auto_name] = entry
        result[folder] = loaded
    result["hf_models_imported"] = any(m == "hf_models" or m.startswith("hf_models.") for m in sys.modules)
    print("RESULT " + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def saved_families(tmp_path_factory):
    """family -> (the saved model, its folder): one tiny model of every family, saved by save_pretrained."""
    saved = {}
    for name, build in TINY_MODELS.items():
        torch.manual_seed(0)
        model = build().eval()
        folder = tmp_path_factory.mktemp(f"remote_code_{name}")
        model.save_pretrained(folder)
        saved[name] = (model, folder)
    return saved


def test_every_family_has_a_tiny_model():
    assert set(TINY_MODELS) == set(FAMILIES)


@pytest.mark.parametrize("name", list(TINY_MODELS))
def test_saved_folder_auto_map_lists_every_head(saved_families, name):
    """config.json's auto_map: AutoConfig and every head of the family's HEADS, as "module.Class" of the saved code."""
    family = FAMILIES[name]
    model, folder = saved_families[name]
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config_module = f"configuration_{name}"
    modeling = f"modeling_{name}"
    expected = {"AutoConfig": f"{config_module}.{family.config_class.__name__}",
                **{auto: f"{modeling}.{cls.__name__}" for auto, cls in family.heads.items()}}
    assert config["auto_map"] == expected
    assert config["model_type"] == family.model_type
    for module in {value.split(".")[0] for value in expected.values()}:
        assert (folder / f"{module}.py").is_file(), f"{module}.py not saved in {folder}"
    # the saving head is one of the family's heads, under its Auto class
    assert type(model) in family.heads.values()


@pytest.mark.slow
def test_every_head_of_every_family_loads_with_trust_remote_code_without_hf_models(saved_families, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["HF_HOME"] = str(tmp_path / "hf_home")  # its own module cache: the code is copied from each folder
    folders = {name: str(folder) for name, (_, folder) in saved_families.items()}
    proc = subprocess.run([sys.executable, "-I", "-c", CHILD_EVERY_HEAD, *folders.values()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"child failed:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result in child output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result.pop("hf_models_imported") is False

    for name, folder in folders.items():
        family = FAMILIES[name]
        model = saved_families[name][0]
        loaded = result[folder]
        expected_classes = {"AutoConfig": family.config_class.__name__,
                            **{auto: cls.__name__ for auto, cls in family.heads.items()}}
        assert {auto: entry["class"] for auto, entry in loaded.items()} == expected_classes, name
        for auto, entry in loaded.items():  # from the code saved in the folder, not from an installed package
            assert entry["module"].startswith("transformers_modules."), (name, auto, entry["module"])
        # the head that was saved comes back with the saved weights and buffers
        sums = [entry["sums"] for entry in loaded.values() if "sums" in entry]
        assert sums, f"{name}: no Auto class loaded the saved head {type(model).__name__}"
        expected_sums = {k: float(v.double().sum()) for k, v in model.state_dict().items()}
        for got in sums:
            assert got.keys() == expected_sums.keys(), name
            for key, value in expected_sums.items():
                assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-6), (name, key)


def _relative_imports(path: Path) -> set[str]:
    import re

    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*from\s+\.(\w+)\s+import", text, flags=re.MULTILINE)) | set(
        re.findall(r"^\s*import\s+\.(\w+)\s*$", text, flags=re.MULTILINE))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_modeling_files_import_every_sibling_they_need_directly(family):
    """transformers copies a saved folder's code from the modeling file's relative imports; 5.0 goes one import deep
    (later releases recurse), so every sibling module the modeling file needs, however indirectly, must also be
    imported by the modeling file itself, and no import may reach outside the family's folder."""
    folder = Path(hf_models.__file__).parent / family
    modeling = folder / f"modeling_{family}.py"
    direct = _relative_imports(modeling)
    needed, todo = set(), list(direct)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        assert (folder / f"{name}.py").is_file(), f"{modeling.name} needs .{name}, which is not in {folder}"
        todo.extend(_relative_imports(folder / f"{name}.py"))
    needed.discard(modeling.stem)  # a sibling may import the modeling file back
    assert needed <= direct, f"{modeling.name} needs {sorted(needed - direct)} only through other siblings"
