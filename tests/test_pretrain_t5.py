"""training/pretrain.py --objective span_corruption: T5 pretrained by span corruption end to end on a tiny corpus
(English and Korean). It trains a SentencePiece Unigram tokenizer with T5's sentinels at the end of the vocabulary,
learns, evaluates on a statically corrupted set, saves a folder that AutoModelForSeq2SeqLM / AutoTokenizer reload and
that generates, resumes from its checkpoint, takes the real T5 tokenizer, refuses a tokenizer without sentinels in
one line, and runs as two processes under torchrun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_shared_data, shared_data_dir
from test_pretrain_cli import TOPICS, check, run_cli, tiny_args, write_corpus

from hf_models.pretraining import compute_input_and_target_lengths, sentinel_token_ids

T5_TOKENIZER = shared_data_dir() / "tokenizers" / "t5"
KOREAN = TOPICS["korean"]


def t5_args(corpus: Path, out: Path, max_steps: int, *extra: str) -> list[str]:
    """The tiny BERT run's flags (d_model 32, 2 + 2 layers, 2 heads, d_ff 64, inputs of 32 tokens) for T5."""
    return tiny_args(corpus, out, max_steps, "--objective", "span_corruption", *extra)


def eval_history(out: Path) -> list[dict]:
    return [entry for entry in json.loads((out / "trainer_state.json").read_text())["log_history"]
            if "eval_target_loss" in entry]


@pytest.mark.slow
def test_span_corruption_trains_evaluates_reloads_generates_and_resumes(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", num_documents=40)
    out = tmp_path / "t5"
    check(run_cli(t5_args(corpus, out, 20, "--eval_strategy", "steps", "--eval_steps", "20", "--eval_on_start",
                          "--config_overrides", "dropout_rate=0.0")))
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "all_results.json",
                 "eval_results.json", "trainer_state.json", "checkpoint-20", "results.md"):
        assert (out / name).exists(), name

    # evaluation: loss, perplexity and accuracy of the target tokens, on a set corrupted once (the same each time)
    results = json.loads((out / "all_results.json").read_text())
    for key in ("train_loss", "eval_loss", "eval_target_loss", "eval_target_perplexity", "eval_target_accuracy",
                "eval_samples", "train_samples"):
        assert key in results, key
    assert not any("mlm" in key or "nsp" in key for key in results)
    _, targets_length = compute_input_and_target_lengths(32)  # --max_seq_length 32 is the corrupted input's length
    assert results["eval_num_target_tokens"] == results["eval_samples"] * targets_length
    assert results["eval_target_perplexity"] == pytest.approx(np.exp(results["eval_target_loss"]), rel=1e-4)
    # learning: on this repetitive text the target loss falls from about ln(vocab) (6.6 -> 4.0 here) and the
    # accuracy rises well above chance
    evals = eval_history(out)
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 20
    assert evals[-1]["eval_target_loss"] < evals[0]["eval_target_loss"] - 1.0, evals
    assert evals[-1]["eval_target_accuracy"] > evals[0]["eval_target_accuracy"] + 0.1, evals
    assert "pretraining (span_corruption)" in (out / "results.md").read_text(encoding="utf-8")

    # the saved folder: hf_models' T5 and a T5 tokenizer with the sentinels last, <extra_id_0> the very last id
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import hf_models

    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert isinstance(model, hf_models.T5ForConditionalGeneration)
    config = model.config
    assert (config.d_model, config.num_layers, config.num_decoder_layers, config.num_heads, config.d_kv,
            config.d_ff, config.dropout_rate) == (32, 2, 2, 2, 16, 64, 0.0)
    assert config.vocab_size == len(tokenizer)
    assert (config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (0, 1, 0)
    assert [tokenizer.convert_ids_to_tokens(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    sentinels = sentinel_token_ids(tokenizer)
    assert len(sentinels) == 100
    np.testing.assert_array_equal(sentinels, np.arange(len(tokenizer) - 1, len(tokenizer) - 101, -1))
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") == len(tokenizer) - 1
    # Korean is learned and round-trips; a sentinel in text is one token
    ids = tokenizer(KOREAN)["input_ids"]
    assert tokenizer.unk_token_id not in ids and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == KOREAN
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") in tokenizer("the river <extra_id_0> city")["input_ids"]
    # it generates, from the decoder start <pad>
    batch = tokenizer(["the river <extra_id_0> the old city .", f"{KOREAN} <extra_id_0>"], return_tensors="pt",
                      padding=True)
    generated = model.generate(**batch, max_new_tokens=6, do_sample=False)
    assert generated.shape[0] == 2 and 2 <= generated.shape[1] <= 7
    assert (generated[:, 0] == 0).all()

    # the same command with more steps resumes from checkpoint-20 with the checkpoint's tokenizer
    resumed = check(run_cli(t5_args(corpus, out, 30, "--config_overrides", "dropout_rate=0.0")))
    assert "resuming training from" in resumed.stdout + resumed.stderr
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 30 and (out / "checkpoint-30").is_dir()
    assert AutoTokenizer.from_pretrained(out).get_vocab() == tokenizer.get_vocab()


@requires_shared_data
def test_real_t5_tokenizer_builds_t5_shaped_data(tmp_path):
    """The real T5 vocabulary as the given tokenizer; --max_seq_length 512 means inputs of 512 tokens, from blocks of
    568, with targets of 114 (T5's numbers), in the train batches and the statically corrupted eval set."""
    from transformers import AutoTokenizer

    from hf_models.tasks.pretraining import (
        PretrainingDataArguments,
        build_pretraining_datasets,
        get_objective,
    )

    corpus = write_corpus(tmp_path / "corpus.txt", num_documents=120)
    tokenizer = AutoTokenizer.from_pretrained(T5_TOKENIZER)
    data_args = PretrainingDataArguments(train_files=[str(corpus)], max_seq_length=512,
                                         validation_split_percentage=20)
    train, evaluation = build_pretraining_datasets(tokenizer, data_args, objective="span_corruption")
    assert {len(ids) for ids in train["input_ids"]} == {568}
    assert {len(ids) for ids in evaluation["input_ids"]} == {512}
    assert {len(ids) for ids in evaluation["labels"]} == {114}
    collator = get_objective("span_corruption").make_collator(tokenizer, data_args)
    batch = collator([train[i] for i in range(min(3, len(train)))])
    assert batch["input_ids"].shape[1] == 512 and batch["labels"].shape[1] == 114
    assert int(batch["labels"][0, 0]) == 32099  # <extra_id_0> opens every target
    # the eval set is corrupted once: the same for the same seed
    _, again = build_pretraining_datasets(tokenizer, data_args, do_train=False, objective="span_corruption")
    assert again["labels"] == evaluation["labels"]


@pytest.mark.slow
@requires_shared_data
def test_real_t5_tokenizer_through_the_cli(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "t5-vocab"
    check(run_cli(t5_args(corpus, out, 3, "--tokenizer_name_or_path", str(T5_TOKENIZER), "--save_strategy", "no")))
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(out)
    assert config.vocab_size == 32100
    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("<extra_id_0>") == 32099
    assert json.loads((out / "all_results.json").read_text())["eval_target_accuracy"] >= 0.0


@pytest.mark.slow
def test_tokenizer_without_sentinels_is_refused_in_one_line(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    corpus = write_corpus(tmp_path / "corpus.txt")
    words = sorted({word for text in TOPICS.values() for word in text.split()} | {"."})
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *words])},
                                         unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "no-sentinels"
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(folder)
    out = tmp_path / "out"
    result = run_cli(t5_args(corpus, out, 2, "--tokenizer_name_or_path", str(folder)))
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith(f"pretrain.py: error: {folder}: tokenizer: has 0 sentinel tokens (<extra_id_0>"), lines
    assert "add <extra_id_0> .. <extra_id_1> as special tokens" in lines[-1]
    assert not (out / "model.safetensors").exists()

    # a trained vocabulary with too few sentinels for the spans of these inputs is refused the same way
    result = run_cli(t5_args(corpus, tmp_path / "out2", 2, "--extra_ids", "1"))
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pretrain.py: error: the trained tokenizer (--extra_ids 1): tokenizer: has 1 sentinel"), last


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_torchrun_two_processes(tmp_path):
    """Process 0 trains the tokenizer and shares it; both processes train one T5 replica each over gloo."""
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "ddp"
    result = check(run_cli(t5_args(corpus, out, 6), launcher=["torchrun", "--nproc_per_node", "2"], timeout=180))
    log = result.stdout + result.stderr
    assert "Process rank: 1" in log and "distributed training: True" in log
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6
    results = json.loads((out / "all_results.json").read_text())
    assert results["train_samples"] > 0 and "eval_target_accuracy" in results


def test_size_flags_become_t5_config_fields_and_bad_ones_are_named():
    """--hidden_size, --num_hidden_layers, --num_attention_heads and --intermediate_size are BERT's names: a new T5
    gets them as d_model, num_layers (the decoder follows), num_heads with d_kv = d_model / heads, and d_ff."""
    from hf_models.cli_utils import InputError
    from hf_models.tasks.pretraining import (
        PretrainingDataArguments,
        PretrainingModelArguments,
        get_objective,
    )

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    args = PretrainingModelArguments(objective="span_corruption", **sizes, config_overrides="dropout_rate=0.0")
    assert args.vocab_size == 32100 and args.extra_ids == 100  # T5's defaults
    assert args.new_model_config_fields("hf_t5") == {
        "d_model": 32, "num_layers": 2, "num_heads": 2, "d_ff": 64, "d_kv": 16, "dropout_rate": 0.0,
    }
    assert PretrainingModelArguments(objective="span_corruption", hidden_size=32,
                                     config_overrides="d_kv=8").new_model_config_fields("hf_t5")["d_kv"] == 8
    bert = PretrainingModelArguments(**sizes)  # BERT's run is unchanged
    assert bert.vocab_size == 30522 and bert.new_model_config_fields("hf_bert") == sizes

    with pytest.raises(ValueError, match="--max_position_embeddings: a hf_t5 model has no position embeddings"):
        PretrainingModelArguments(objective="span_corruption", max_position_embeddings=64).new_model_config_fields(
            "hf_t5")
    with pytest.raises(ValueError, match="--hidden_size 30 must be a multiple of --num_attention_heads 4"):
        PretrainingModelArguments(objective="span_corruption", hidden_size=30,
                                  num_attention_heads=4).new_model_config_fields("hf_t5")
    with pytest.raises(ValueError, match="--noise_density must be in"):
        PretrainingDataArguments(noise_density=1.0)
    with pytest.raises(ValueError, match="--mean_noise_span_length must be >= 1"):
        PretrainingDataArguments(mean_noise_span_length=0.5)
    # an input length that no block reaches is named by its flag before any work
    with pytest.raises(InputError, match=r"^--max_seq_length 5 \(the corrupted input's length\): inputs_length 5"):
        get_objective("span_corruption").check_arguments(
            args, PretrainingDataArguments(max_seq_length=5, noise_density=0.5, mean_noise_span_length=1.0)
        )
