"""`import hf_models` registers every family's config and heads with transformers' Auto classes, and exports them.

Each family declares its heads once (`HEADS` in its modeling file); the registration, `auto_map` (tests/
test_remote_code.py) and the exports derive from it. The registration is checked in a fresh interpreter that only
imports hf_models: nothing in it registers anything itself, so a missing registration cannot be papered over.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import hf_models
from hf_models.auto import (
    FAMILIES,
    FAMILY_NAMES,
    TRANSFORMERS_MODEL_TYPES,
    register_auto_classes,
)

# What users load today, written out independently of HEADS: model_type -> {Auto class: head class name}. HEADS may
# grow; it must not lose any of these.
PUBLISHED_HEADS = {
    "hf_bert": {
        "AutoModel": "BertModel",
        "AutoModelForPreTraining": "BertForPreTraining",
        "AutoModelForMaskedLM": "BertForMaskedLM",
        "AutoModelForNextSentencePrediction": "BertForNextSentencePrediction",
        "AutoModelForSequenceClassification": "BertForSequenceClassification",
        "AutoModelForTokenClassification": "BertForTokenClassification",
        "AutoModelForQuestionAnswering": "BertForQuestionAnswering",
        "AutoModelForMultipleChoice": "BertForMultipleChoice",
    },
    "hf_word2vec": {"AutoModel": "Word2VecModel"},
    "hf_ngram": {"AutoModel": "NGramLanguageModel", "AutoModelForCausalLM": "NGramLanguageModel"},
    "hf_rnn": {
        "AutoModel": "RnnModel",
        "AutoModelForCausalLM": "RnnForCausalLM",
        "AutoModelForSequenceClassification": "RnnForSequenceClassification",
        "AutoModelForTokenClassification": "RnnForTokenClassification",
    },
    "hf_seq2seq": {"AutoModel": "Seq2SeqModel", "AutoModelForSeq2SeqLM": "Seq2SeqForConditionalGeneration"},
}

# The fresh interpreter: what transformers' Auto classes resolve each hf_models model_type to, before and after
# `import hf_models` (and nothing else).
CHILD = textwrap.dedent(
    r"""
    import json, sys
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    def resolve(model_type, auto_names):
        if model_type not in CONFIG_MAPPING:
            return None
        config_class = CONFIG_MAPPING[model_type]
        heads = {}
        for auto_name in auto_names:
            try:
                model_class = getattr(transformers, auto_name)._model_mapping[config_class]
            except KeyError:
                continue
            heads[auto_name] = f"{model_class.__module__}.{model_class.__name__}"
        return {"config": f"{config_class.__module__}.{config_class.__name__}", "heads": heads}

    wanted = json.loads(sys.argv[1])  # model_type -> Auto class names to look up
    before = {model_type: resolve(model_type, names) for model_type, names in wanted.items()}
    assert not any(m == "hf_models" or m.startswith("hf_models.") for m in sys.modules)
    import hf_models  # noqa: F401  (registers on import: the only thing this process does)
    from hf_models.auto import FAMILIES

    after = {model_type: resolve(model_type, names) for model_type, names in wanted.items()}
    declared = {f.model_type: {"config": f"{f.config_class.__module__}.{f.config_class.__name__}",
                               "heads": {a: f"{c.__module__}.{c.__name__}" for a, c in f.heads.items()}}
                for f in FAMILIES.values()}
    print("RESULT " + json.dumps({"before": before, "after": after, "declared": declared}))
    """
)


@pytest.fixture(scope="module")
def fresh_registration():
    """What a fresh `import hf_models` registers, as seen through transformers' Auto mappings."""
    auto_names = sorted({name for heads in PUBLISHED_HEADS.values() for name in heads}
                        | {name for family in FAMILIES.values() for name in family.heads})
    wanted = {model_type: auto_names for model_type in {*PUBLISHED_HEADS, *(f.model_type for f in FAMILIES.values())}}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(wanted)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_nothing_is_registered_before_import(fresh_registration):
    assert all(value is None for value in fresh_registration["before"].values()), fresh_registration["before"]


def test_every_declared_head_is_registered_after_import(fresh_registration):
    after, declared = fresh_registration["after"], fresh_registration["declared"]
    assert set(declared) == {family.model_type for family in FAMILIES.values()}
    for model_type, family in declared.items():
        assert after[model_type] is not None, f"AutoConfig does not know {model_type}"
        assert after[model_type]["config"] == family["config"]
        for auto_name, model_class in family["heads"].items():
            assert after[model_type]["heads"].get(auto_name) == model_class, (model_type, auto_name)
        # no hf_models class is registered that HEADS does not declare (transformers' own lookup by config class
        # name adds its classes for a config named like one of its own: BertConfig -> its BertLMHeadModel)
        extra = {auto: path for auto, path in after[model_type]["heads"].items() if auto not in family["heads"]}
        assert not any(path.startswith("hf_models.") for path in extra.values()), (model_type, extra)


def test_published_heads_are_still_registered(fresh_registration):
    after = fresh_registration["after"]
    for model_type, heads in PUBLISHED_HEADS.items():
        assert after[model_type] is not None, f"AutoConfig does not know {model_type}"
        registered = {auto: path.rsplit(".", 1)[-1] for auto, path in after[model_type]["heads"].items()}
        for auto_name, class_name in heads.items():
            assert registered.get(auto_name) == class_name, (model_type, auto_name, registered)


def test_families_are_read_from_heads():
    assert tuple(FAMILIES) == FAMILY_NAMES
    for name, family in FAMILIES.items():
        module = sys.modules[f"hf_models.{name}.modeling_{name}"]
        assert dict(family.heads) == module.HEADS
        assert all(cls.config_class is family.config_class for cls in family.heads.values())
        # the auto_map a saved folder carries is computed from the same HEADS
        assert module.AUTO_MAP == {"AutoConfig": f"configuration_{name}.{family.config_class.__name__}",
                                   **{auto: f"modeling_{name}.{cls.__name__}" for auto, cls in family.heads.items()}}
    assert TRANSFORMERS_MODEL_TYPES == {"hf_bert": "bert", "hf_t5": "t5"}


def test_register_auto_classes_is_idempotent():
    from transformers import AutoModel

    register_auto_classes()
    register_auto_classes()
    assert AutoModel._model_mapping[FAMILIES["bert"].config_class] is FAMILIES["bert"].heads["AutoModel"]


def test_package_exports_every_head_and_config():
    exported = set(hf_models.__all__)
    for name, family in FAMILIES.items():
        family_package = sys.modules[f"hf_models.{name}"]
        for cls in (family.config_class, *family.heads.values()):
            assert cls.__name__ in exported, f"hf_models.__all__ lacks {cls.__name__}"
            assert getattr(hf_models, cls.__name__) is cls
            assert cls.__name__ in family_package.__all__, f"hf_models.{name}.__all__ lacks {cls.__name__}"
            assert getattr(family_package, cls.__name__) is cls
    # the names hf_models exported before the heads were declared once are all still there
    assert {
        "BertConfig", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction", "BertForPreTraining",
        "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTokenClassification", "BertModel",
        "BertPreTrainedModel", "KeyedVectors", "LineSentence", "NGramConfig", "NGramForCausalLM", "NGramLanguageModel",
        "RnnConfig", "RnnForCausalLM", "RnnForSequenceClassification", "RnnForTokenClassification", "RnnModel",
        "Seq2SeqConfig", "Seq2SeqForConditionalGeneration", "Seq2SeqModel", "Word2VecConfig", "Word2VecModel",
        "build_and_train", "register_auto_classes", "train_ngram", "train_word2vec",
    } <= exported
    for name in exported:
        assert hasattr(hf_models, name), name
