"""Causal language modelling (hf_models.tasks.causal_lm, training/run_clm.py, eval/eval_perplexity.py): a tiny GPT
trained from scratch learns and resumes; perplexity = exp(loss) and the Trainer's eval loss is the sliding-window
NLL over the same blocks; the sliding window equals brute-force scoring (non-overlapping chunks, stride 1, a text
that fits); LAMBADA scoring equals a hand computation, and encodes as lm-evaluation-harness (a tokenizer that adds a
BOS included, against lm_eval itself where it is installed); lm_eval's rolling windows equal brute-force scoring and
`--task documents` its document-level protocol; the trained tokenizers round-trip; bad input is one clear error.
Real-data checks (the GPT-2 tokenizer, LAMBADA, PTB word counts) skip without ../shared/data."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_models.cli_utils import InputError
from hf_models.gpt import GPTConfig, GPTForCausalLM
from hf_models.tasks.causal_lm import (
    BPE_EOS_TOKEN,
    WORD_EOS_TOKEN,
    WORD_UNK_TOKEN,
    CausalLMModelArguments,
    build_lm_dataset,
    encode_pair,
    group_texts,
    is_word_level,
    lambada_split,
    lm_eval_encode,
    lm_eval_prefix_token_id,
    load_lm_tokenizer,
    new_model_config,
    plan_windows,
    read_documents,
    read_lambada,
    rolling_loglikelihood,
    rolling_loglikelihoods,
    rolling_token_windows,
    score_documents,
    score_lambada,
    sliding_window_nll,
    sliding_window_perplexity,
    split_documents,
    text_to_ids,
    train_bpe_tokenizer,
    train_word_tokenizer,
    wikitext_detokenizer,
)

ROOT = Path(__file__).resolve().parents[1]
RUN_CLM = ROOT / "training" / "run_clm.py"
EVAL_PERPLEXITY = ROOT / "eval" / "eval_perplexity.py"


def load_script(path: Path):
    """A command-line script imported as a module, to call its main(argv) in this process."""
    name = f"_causal_lm_script_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


SUBJECTS = ["the cat", "a dog", "my sister", "the old man", "our teacher"]
VERBS = ["sees", "likes", "finds", "follows"]
OBJECTS = ["the ball", "a bird", "the river", "a red car", "the garden"]


def write_corpus(path: Path, lines: int = 400, seed: int = 0) -> Path:
    """Sentences of a tiny grammar, one per line: easy to learn, so a few steps lower the loss."""
    rng = random.Random(seed)
    text = "\n".join(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ." for _ in range(lines))
    path.write_text(text + "\n", encoding="utf-8")
    return path


def tiny_gpt(vocab_size: int, n_positions: int = 16, seed: int = 0, init: float = 0.02) -> GPTForCausalLM:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, n_positions=n_positions, n_embd=16, n_layer=2, n_head=2,
                       embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=init,
                       bos_token_id=None, eos_token_id=None)
    return GPTForCausalLM(config).eval()


def chunk_nll(model, ids: torch.Tensor) -> float:
    """Summed NLL of ids[1:] given their prefix in one forward pass (the model's own loss x tokens)."""
    with torch.no_grad():
        loss = model(ids[None], labels=ids[None]).loss
    return loss.item() * (ids.numel() - 1)


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizers and examples
# ----------------------------------------------------------------------------------------------------------------------
def test_group_texts_concatenates_and_cuts_blocks():
    grouped = group_texts({"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]}, block_size=4)
    assert grouped["input_ids"] == [[1, 2, 3, 4], [5, 6, 7, 8]]  # the remainder [9, 10] is dropped
    assert grouped["labels"] == grouped["input_ids"]
    assert grouped["labels"][0] is not grouped["input_ids"][0]


def test_lm_dataset_from_a_hub_style_dataset():
    import datasets

    tokenizer = train_word_tokenizer(["a b c d e"])
    vocab = tokenizer.get_vocab()
    rows = datasets.Dataset.from_dict({"content": ["a b", "", "c d e", "  ", "a"], "id": [0, 1, 2, 3, 4]})
    blocks = build_lm_dataset(rows, tokenizer, block_size=4, text_column="content")
    eos = vocab[WORD_EOS_TOKEN]
    stream = [vocab["a"], vocab["b"], eos, vocab["c"], vocab["d"], vocab["e"], eos, vocab["a"], eos]  # empty rows out
    assert blocks["input_ids"] == [stream[:4], stream[4:8]] and blocks["labels"] == blocks["input_ids"]
    with pytest.raises(InputError, match="no column 'text'"):
        build_lm_dataset(rows, tokenizer, block_size=4)
    with pytest.raises(InputError, match="fewer than one block of --block_size 16"):
        build_lm_dataset(["a b", "c"], tokenizer, block_size=16)


def test_word_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    texts = ["the cat sat on the mat .", "the dog sat <unk> .", "a rare word"]
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    vocab = tokenizer.get_vocab()
    assert sorted(vocab.values()) == list(range(len(vocab)))  # PTB's own <unk> is not counted as a second word
    assert (tokenizer.unk_token, tokenizer.eos_token) == (WORD_UNK_TOKEN, WORD_EOS_TOKEN)
    assert is_word_level(tokenizer)
    ids = tokenizer("the cat zebra <unk> .")["input_ids"]
    assert ids == [vocab["the"], vocab["cat"], vocab[WORD_UNK_TOKEN], vocab[WORD_UNK_TOKEN], vocab["."]]
    assert tokenizer.decode(ids) == "the cat <unk> <unk> ."
    # each line + <eos>: as many tokens as words plus lines, the count n-gram and LSTM perplexities use
    assert text_to_ids(tokenizer, "the cat\n\nsat .\n", "lines") == [vocab["the"], vocab["cat"], vocab["<eos>"],
                                                                      vocab["sat"], vocab["."], vocab["<eos>"]]
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("the cat zebra <unk> .")["input_ids"] == ids
    assert reloaded.eos_token == WORD_EOS_TOKEN and is_word_level(reloaded)
    # min_frequency and vocab_size keep the frequent words only
    small = train_word_tokenizer(texts, min_frequency=2)
    assert set(small.get_vocab()) == {WORD_UNK_TOKEN, WORD_EOS_TOKEN, "the", "sat", "."}
    assert len(train_word_tokenizer(texts, vocab_size=4)) == 4


def test_bpe_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    texts = [" = Homarus gammarus = ", "the european lobster lives in the atlantic ocean .", "자연어 처리"] * 20
    tokenizer = train_bpe_tokenizer(texts, vocab_size=300, max_length=64)
    assert len(tokenizer) == 300 and tokenizer.eos_token == BPE_EOS_TOKEN and not is_word_level(tokenizer)
    text = "the lobster of 자연어, never seen: Ωmega!"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text  # byte-level: nothing is unknown
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text)["input_ids"] == ids and reloaded.eos_token_id == tokenizer.eos_token_id


def test_new_model_config_from_overrides():
    tokenizer = train_word_tokenizer(["a b c d e f"])
    args = CausalLMModelArguments(architecture="llama",
                                  config_overrides="hidden_size=32,n_layer=2,n_head=4,n_kv_head=2,n_inner=64")
    config = new_model_config(args, tokenizer)
    assert (config.n_embd, config.head_dim, config.n_kv_head, config.position_embedding) == (32, 8, 2, "rotary")
    assert (config.vocab_size, config.eos_token_id) == (len(tokenizer), tokenizer.eos_token_id)
    with pytest.raises(InputError, match="no field 'n_embed'"):
        new_model_config(CausalLMModelArguments(config_overrides="n_embed=32"), tokenizer)
    with pytest.raises(InputError, match="divisible"):
        new_model_config(CausalLMModelArguments(config_overrides="n_embd=30,n_head=4"), tokenizer)
    gpt2 = new_model_config(CausalLMModelArguments(model_type="gpt2", config_overrides="n_embd=32,n_layer=1"),
                            tokenizer)
    assert (gpt2.model_type, gpt2.n_embd, gpt2.vocab_size) == ("gpt2", 32, len(tokenizer))


# ----------------------------------------------------------------------------------------------------------------------
# Training from scratch: learns, perplexity = exp(loss), resumes
# ----------------------------------------------------------------------------------------------------------------------
def clm_args(train: Path, validation: Path, out: Path, max_steps: int, *extra: str) -> list[str]:
    return ["--train_file", str(train), "--validation_file", str(validation), "--train_tokenizer",
            "--tokenizer_type", "word", "--model_type", "gpt", "--architecture", "gpt2",
            "--config_overrides", "n_embd=32,n_layer=2,n_head=2,n_positions=16", "--block_size", "16",
            "--do_train", "--do_eval", "--max_steps", str(max_steps), "--save_steps", "10",
            "--learning_rate", "5e-3", "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32",
            "--eval_strategy", "steps", "--eval_steps", "10", "--logging_steps", "10", "--output_dir", str(out),
            "--use_cpu", "--seed", "0", "--disable_tqdm", "true", *extra]


def test_train_from_scratch_learns_resumes_and_matches_the_sliding_window(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train = write_corpus(tmp_path / "train.txt", 300, seed=0)
    validation = write_corpus(tmp_path / "valid.txt", 40, seed=1)
    out = tmp_path / "out"
    main = load_script(RUN_CLM).main
    first = main(clm_args(train, validation, out, 20, "--eval_on_start", "--report_to", "tensorboard"))
    state = json.loads((out / "trainer_state.json").read_text())
    losses = {entry["step"]: entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry}
    assert losses[20] < losses[0] - 1.0, losses  # it learns the grammar
    for entry in state["log_history"]:  # every evaluation, TensorBoard's included, reports the perplexity
        if "eval_loss" in entry:
            assert entry["eval_perplexity"] == pytest.approx(math.exp(entry["eval_loss"]), rel=1e-9)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["eval_perplexity"] == pytest.approx(math.exp(results["eval_loss"]), rel=1e-9)
    assert 0.0 < results["eval_accuracy"] <= 1.0 and first["eval_loss"] == results["eval_loss"]
    assert any((out / "runs").rglob("events.out.tfevents.*"))
    assert "perplexity=" in (out / "results.md").read_text()

    # The Trainer's eval loss is the mean NLL of the validation stream's blocks: the non-overlapping sliding window
    # (stride = max_length = block_size) over the same tokens.
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = text_to_ids(tokenizer, validation.read_text(), "lines")
    blocks = len(ids) // 16
    scores = sliding_window_nll(model, ids[: blocks * 16], max_length=16, stride=16)
    assert scores["tokens"] == blocks * 15
    assert scores["nll"] / scores["tokens"] == pytest.approx(results["eval_loss"], rel=1e-5)

    # The same weights through transformers' GPT2LMHeadModel give the same eval loss (the Trainer's unshifted token
    # count is not applied to it), and so does hf_models' class in an evaluation-only run.
    for implementation in ("transformers", "hf_models"):
        evaluated = main(["--model_name_or_path", str(out), "--implementation", implementation, "--validation_file",
                          str(validation), "--do_eval", "--block_size", "16", "--per_device_eval_batch_size", "5",
                          "--output_dir", str(tmp_path / f"eval-{implementation}"), "--use_cpu",
                          "--disable_tqdm", "true"])
        assert evaluated["eval_loss"] == pytest.approx(results["eval_loss"], rel=1e-5), implementation
    assert "| transformers |" in (tmp_path / "eval-transformers" / "results.md").read_text()

    # Run again with more steps: it resumes from checkpoint-20 (its history kept) and goes on to step 30.
    vocab = tokenizer.get_vocab()
    main(clm_args(train, validation, out, 30))
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 30
    assert [e["step"] for e in state["log_history"] if "eval_loss" in e][:3] == [0, 10, 20]
    assert AutoTokenizer.from_pretrained(out).get_vocab() == vocab  # the checkpoint's tokenizer, not a new one


def test_training_errors_name_the_problem(tmp_path):
    main = load_script(RUN_CLM).main
    corpus = write_corpus(tmp_path / "train.txt", 50)
    with pytest.raises(InputError, match="missing.txt: no such file"):
        main(clm_args(tmp_path / "missing.txt", corpus, tmp_path / "a", 1))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InputError, match="empty.txt: the file is empty"):
        main(clm_args(empty, corpus, tmp_path / "b", 1))
    args = clm_args(corpus, corpus, tmp_path / "c", 1)
    args[args.index("--block_size") + 1] = "32"
    with pytest.raises(InputError, match="--block_size 32 is longer than the model's 16 positions"):
        main(args)
    assert not (tmp_path / "c").exists()  # a failed run leaves no folder behind
    with pytest.raises(InputError, match="no tokenizer"):
        main(["--train_file", str(corpus), "--do_train", "--output_dir", str(tmp_path / "d"), "--use_cpu"])


# ----------------------------------------------------------------------------------------------------------------------
# Sliding-window perplexity against brute force
# ----------------------------------------------------------------------------------------------------------------------
def test_plan_windows_scores_every_token_but_the_first_once():
    for n, length, stride in [(50, 16, 16), (50, 16, 8), (50, 16, 1), (17, 16, 16), (16, 16, 4), (100, 7, 3)]:
        scored = [t for _, end, first in plan_windows(n, length, stride) for t in range(first, end)]
        if stride < length:
            assert scored == list(range(1, n)), (n, length, stride)
        else:  # non-overlapping chunks: each chunk's first token has no context in its window
            assert scored == [t for t in range(1, n) if t % length], (n, length, stride)
        for begin, end, first in plan_windows(n, length, stride):
            assert end - begin <= length and begin < first <= end
    with pytest.raises(InputError, match="--stride"):
        plan_windows(10, 4, 5)


def test_stride_equal_to_max_length_is_non_overlapping_chunks():
    model = tiny_gpt(40)
    ids = torch.randint(0, 40, (50,), generator=torch.Generator().manual_seed(1))
    expected = sum(chunk_nll(model, ids[i: i + 16]) for i in range(0, 50, 16) if ids[i: i + 16].numel() > 1)
    for batch_size in (1, 3):
        scores = sliding_window_nll(model, ids, max_length=16, stride=16, batch_size=batch_size)
        assert scores["nll"] == pytest.approx(expected, rel=1e-5)
        assert scores["tokens"] == 15 + 15 + 15 + 1


def test_stride_one_scores_each_token_with_the_longest_context():
    model = tiny_gpt(40)
    ids = torch.randint(0, 40, (30,), generator=torch.Generator().manual_seed(2))
    length = 8
    expected = 0.0
    with torch.no_grad():
        for t in range(1, 30):  # token t after the (up to) length - 1 tokens before it
            context = ids[max(0, t - length + 1): t + 1]
            logits = model(context[None]).logits[0, -2]
            expected -= torch.log_softmax(logits, -1)[ids[t]].item()
    for batch_size in (1, 4):
        scores = sliding_window_nll(model, ids, max_length=length, stride=1, batch_size=batch_size)
        assert scores["tokens"] == 29
        assert scores["nll"] == pytest.approx(expected, rel=1e-5)


def test_a_text_that_fits_is_scored_with_full_context():
    model = tiny_gpt(40)
    ids = torch.randint(0, 40, (12,), generator=torch.Generator().manual_seed(3))
    expected = chunk_nll(model, ids)
    for stride in (1, 5, 16):
        scores = sliding_window_nll(model, ids, max_length=16, stride=stride)
        assert scores["tokens"] == 11 and scores["nll"] == pytest.approx(expected, rel=1e-6)


def test_word_level_and_byte_figures():
    texts = ["the cat sat on the mat .", "the dog sat on the rug ."]
    tokenizer = train_word_tokenizer(texts)
    model = tiny_gpt(len(tokenizer))
    text = "the cat sat on the rug .\nthe dog sat .\n"
    scores = sliding_window_perplexity(model, tokenizer, text, max_length=8, stride=4)  # auto: lines, word-level
    assert scores["text_format"] == "lines"
    assert scores["total_tokens"] == 7 + 1 + 4 + 1 and scores["tokens"] == 12 and scores["words"] == 11
    assert scores["perplexity"] == pytest.approx(math.exp(scores["nll"] / 12))
    assert scores["word_perplexity"] == pytest.approx(math.exp(scores["nll"] / 11))
    assert scores["bits_per_byte"] == pytest.approx(scores["nll"] / (len(text.encode()) * math.log(2)))
    ids = torch.tensor(text_to_ids(tokenizer, text, "lines"))
    assert scores["nll"] == pytest.approx(sliding_window_nll(model, ids, 8, 4)["nll"], rel=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# LAMBADA against a hand computation
# ----------------------------------------------------------------------------------------------------------------------
WORDS = ["the", "a", "man", "woman", "dog", "saw", "walked", "into", "house", "garden", "with", "big", "small", "red",
         "ran", "home"]


def test_lambada_equals_hand_computation_word_level():
    tokenizer = train_word_tokenizer([" ".join(WORDS)])
    vocab = tokenizer.get_vocab()
    model = tiny_gpt(len(tokenizer), n_positions=32, init=0.5)

    def greedy_next(words):
        with torch.no_grad():
            return model(torch.tensor([[vocab[w] for w in words]])).logits[0, -1].argmax().item()

    id_to_word = {i: w for w, i in vocab.items()}
    passages = ["the man saw a big dog", "a woman walked into the small red house"]
    for start in range(len(WORDS)):  # a third passage whose last word is the model's own greedy choice
        context = [WORDS[(start + k) % len(WORDS)] for k in range(5)]
        word = id_to_word[greedy_next(context)]
        if word in WORDS:
            passages.append(" ".join(context + [word]))
            break
    assert len(passages) == 3

    expected = []
    for passage in passages:
        *context, word = passage.split(" ")
        ids = torch.tensor([[vocab[w] for w in context] + [vocab[word]]])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids).logits[0, len(context) - 1], -1)
        expected.append((log_probs[vocab[word]].item(), log_probs.argmax().item() == vocab[word]))
    assert [greedy for _, greedy in expected] == [expected[0][1], expected[1][1], True]
    for padding_side in ("right", "left"):
        scores = score_lambada(model, tokenizer, passages, max_length=32, batch_size=2, padding_side=padding_side)
        assert [s["is_greedy"] for s in scores["per_example"]] == [greedy for _, greedy in expected]
        for got, (log_likelihood, _) in zip(scores["per_example"], expected):
            assert got["log_likelihood"] == pytest.approx(log_likelihood, rel=1e-5)
        assert scores["accuracy"] == pytest.approx(sum(g for _, g in expected) / 3)
        # lm-evaluation-harness's perplexity aggregation: exp(-mean of the per-passage log-likelihoods)
        assert scores["perplexity"] == pytest.approx(math.exp(-sum(ll for ll, _ in expected) / 3), rel=1e-5)


def test_lambada_multi_token_targets_equal_hand_computation():
    tokenizer = train_bpe_tokenizer(["the lobster lives in the cold atlantic ocean and grows claws"] * 10,
                                    vocab_size=270)
    model = tiny_gpt(len(tokenizer), n_positions=64, init=0.3)
    passages = ["the lobster lives in the atlantic", "it grows large claws in cold waters", "oceans"]
    assert lambada_split(passages[0]) == ("the lobster lives in the", " atlantic")
    # trailing spaces of the context belong to the continuation; the target's tokens come from the whole text
    context_ids, target_ids = encode_pair(tokenizer, "the lobster ", "lives")
    assert context_ids == tokenizer("the lobster")["input_ids"]
    assert tokenizer.decode(target_ids) == " lives"
    assert encode_pair(tokenizer, "", " oceans")[0] == [tokenizer.eos_token_id]  # no context: the eos token
    whole, context_only = tokenizer("the lobster")["input_ids"], tokenizer("the lob")["input_ids"]
    assert whole != context_only + tokenizer("ster")["input_ids"]  # a merge across the boundary ...
    assert encode_pair(tokenizer, "the lob", "ster") == (context_only, whole[len(context_only):])  # ... as lm_eval

    expected = []
    for passage in passages:
        context, target = encode_pair(tokenizer, *lambada_split(passage))
        assert len(target) > 1 or passage == "oceans"
        ids = torch.tensor([context + target])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids).logits[0], -1)
        positions = range(len(context) - 1, len(context) + len(target) - 1)
        expected.append(sum(log_probs[p, t].item() for p, t in zip(positions, target)))
    for padding_side in ("right", "left"):
        scores = score_lambada(model, tokenizer, passages, max_length=64, batch_size=3, padding_side=padding_side)
        got = [s["log_likelihood"] for s in scores["per_example"]]
        assert got == pytest.approx(expected, rel=1e-5)
        # per passage, not per token: exp(-mean over passages of the target's summed log-likelihood)
        assert scores["perplexity"] == pytest.approx(math.exp(-sum(expected) / len(expected)), rel=1e-5)


def test_lambada_reader_errors(tmp_path):
    path = tmp_path / "lambada.jsonl"
    path.write_text('{"text": "a b c"}\n{"passage": "x y"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"lambada.jsonl, line 2: no 'text' field"):
        read_lambada(path)
    assert read_lambada(path, max_samples=1) == ["a b c"]
    path.write_text('{"text": "a b c"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2: not a JSON object"):
        read_lambada(path)


# ----------------------------------------------------------------------------------------------------------------------
# The evaluation command
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_tiny_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_lm")
    tokenizer = train_word_tokenizer([" ".join(WORDS)])
    tiny_gpt(len(tokenizer), n_positions=16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_eval_command_perplexity_both_implementations(saved_tiny_lm, tmp_path):
    main = load_script(EVAL_PERPLEXITY).main
    text = tmp_path / "text.txt"
    text.write_text("the man saw a dog\nthe woman walked into the big red house with a small dog\n" * 3)
    results = {}
    for implementation in ("hf_models", "transformers"):
        output = tmp_path / f"{implementation}.json"
        results[implementation] = main(["--task", "perplexity", "--model_name_or_path", str(saved_tiny_lm),
                                        "--implementation", implementation, "--text_file", str(text), "--stride",
                                        "5", "--output_file", str(output), "--disable_tqdm", "true"])
        assert json.loads(output.read_text())["perplexity"] == results[implementation]["perplexity"]
    assert results["transformers"]["implementation"] == "transformers"
    assert results["hf_models"]["perplexity"] == pytest.approx(results["transformers"]["perplexity"], rel=1e-5)
    assert results["hf_models"]["max_length"] == 16 and results["hf_models"]["text_format"] == "lines"

    # LAMBADA through both libraries' classes, padded on either side (transformers' GPT-2 needs the positions of
    # the left-padded rows passed in), with passages longer than the model's 16 positions (cut on the left)
    passages = tmp_path / "lambada.jsonl"
    long_passage = " ".join(WORDS * 2)
    passages.write_text("".join(json.dumps({"text": t}) + "\n" for t in [
        "the man saw a dog", long_passage, "a woman walked into the house", "home"]))
    scores = []
    for implementation in ("hf_models", "transformers"):
        for side in ("left", "right"):
            scores.append(main(["--task", "lambada", "--model_name_or_path", str(saved_tiny_lm), "--implementation",
                                implementation, "--text_file", str(passages), "--padding_side", side,
                                "--batch_size", "4", "--write_predictions", "--output_file",
                                str(tmp_path / f"lambada-{implementation}-{side}.json"), "--disable_tqdm", "true"]))
    for other in scores[1:]:
        assert [p["log_likelihood"] for p in other["predictions"]] == pytest.approx(
            [p["log_likelihood"] for p in scores[0]["predictions"]], rel=1e-5)
        assert other["accuracy"] == scores[0]["accuracy"] and other["examples"] == 4


def test_eval_command_errors(saved_tiny_lm, tmp_path):
    main = load_script(EVAL_PERPLEXITY).main
    base = ["--model_name_or_path", str(saved_tiny_lm), "--output_file", str(tmp_path / "r.json")]
    with pytest.raises(InputError, match="nothing.txt: no such file"):
        main(["--task", "perplexity", "--text_file", str(tmp_path / "nothing.txt"), *base])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty.txt: the file is empty"):
        main(["--task", "perplexity", "--text_file", str(empty), *base])
    text = tmp_path / "text.txt"
    text.write_text("the man saw a dog\n")
    with pytest.raises(InputError, match="--max_length 64 is longer than the model's 16 positions"):
        main(["--task", "perplexity", "--text_file", str(text), "--max_length", "64", *base])
    with pytest.raises(InputError, match="--output_file or --output_dir"):
        main(["--task", "perplexity", "--text_file", str(text), "--model_name_or_path", str(saved_tiny_lm)])


def test_eval_command_prints_one_line_error(saved_tiny_lm, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "the man saw a dog"}\n{"txt": "a b"}\n')
    result = subprocess.run([sys.executable, str(EVAL_PERPLEXITY), "--task", "lambada", "--model_name_or_path",
                             str(saved_tiny_lm), "--text_file", str(bad), "--output_file", str(tmp_path / "r.json")],
                            check=False, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"eval_perplexity.py: error: {bad}, line 2: no 'text' field (give the passage's field with --text_field)")


# ----------------------------------------------------------------------------------------------------------------------
# lm-evaluation-harness's encoding with a tokenizer that adds a BOS token
# ----------------------------------------------------------------------------------------------------------------------
BOS_WORDS = ["<s>", "</s>", "<unk>", "the", "man", "saw", "a", "dog", "big", "red", "house", "walked", "into", "=",
             "Alpha", "Beta", "-", "(", ")", ",", "."]


def bos_word_tokenizer():
    """A word-level tokenizer whose post-processor puts "<s>" before every text, as Llama's or OPT's do."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(BOS_WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                        special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def test_lambada_with_a_bos_tokenizer_encodes_as_lm_eval():
    tokenizer = bos_word_tokenizer()
    ids = {w: i for i, w in enumerate(BOS_WORDS)}
    assert tokenizer("the man")["input_ids"] == [0, 3, 4]  # the tokenizer's default adds the BOS
    # lm_eval's _encode_pair with HFLM.tok_encode's defaults: the context keeps the BOS, the continuation is the
    # whole text's tokens after the context's
    assert encode_pair(tokenizer, "the man saw", " dog") == ([0, 3, 4, 5], [7])
    assert encode_pair(tokenizer, "the man ", "saw") == ([0, 3, 4], [5])
    # an empty context: the prefix token (the bos), the continuation without special tokens ...
    assert encode_pair(tokenizer, "", "dog") == ([0], [7])
    # ... unless it starts with the prefix token itself; a text that starts with the bos string gets no second one
    assert encode_pair(tokenizer, "", "<s> dog") == ([0], [7])
    assert encode_pair(tokenizer, "<s> the", " man") == ([0, 3], [4])

    model = tiny_gpt(len(BOS_WORDS), n_positions=16, init=0.5)
    passages = ["the man saw a dog", "a big red house", "dog"]
    expected = []
    for context, target in [([0, 3, 4, 5, 6], ids["dog"]), ([0, 6, 8, 9], ids["house"]), ([0], ids["dog"])]:
        with torch.no_grad():
            log_probs = torch.log_softmax(model(torch.tensor([context])).logits[0, -1].double(), -1)
        expected.append((log_probs[target].item(), log_probs.argmax().item() == target))
    for padding_side in ("right", "left"):
        scores = score_lambada(model, tokenizer, passages, max_length=16, batch_size=2, padding_side=padding_side)
        assert [s["log_likelihood"] for s in scores["per_example"]] == pytest.approx([e[0] for e in expected],
                                                                                     rel=1e-5)
        assert [s["is_greedy"] for s in scores["per_example"]] == [e[1] for e in expected]


LM_EVAL_PYTHON = os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python")
LM_EVAL_ENCODING = r"""
import json, sys
from transformers import AutoTokenizer
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
lm = HFLM.__new__(HFLM)  # lm_eval's HF model without a model: its encoding only
lm.tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
lm.add_bos_token, lm.custom_prefix_token_id, lm.backend, lm.enable_thinking = None, None, "causal", None
lm._loglikelihood_tokens = lambda requests, disable_tqdm=False: [[c, x] for _, c, x in requests]
pairs, texts = json.loads(sys.argv[2]), json.loads(sys.argv[3])
requests = [Instance(request_type="loglikelihood", doc={}, arguments=tuple(p), idx=i) for i, p in enumerate(pairs)]
print(json.dumps({"pairs": lm.loglikelihood(requests, disable_tqdm=True), "texts": [lm.tok_encode(t) for t in texts],
                  "prefix": lm.prefix_token_id}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(LM_EVAL_PYTHON), reason=f"no Python with lm_eval at {LM_EVAL_PYTHON} "
                                                               "(set LM_EVAL_PYTHON)")
def test_encoding_against_lm_eval_itself(tmp_path):
    """lm_eval's own HFLM encodes LAMBADA pairs and whole documents as encode_pair / lm_eval_encode do, for a
    tokenizer that adds a BOS and for one that adds nothing."""
    bos = bos_word_tokenizer()
    plain = train_bpe_tokenizer(["the man saw a dog walked into the big red house"] * 5, vocab_size=270)
    pairs = [["the man saw", " dog"], ["", "dog"], ["", "<s> dog"], ["the man ", "saw"], ["<s> the", " man"],
             ["the  big", " red"], ["a", " big red house"]]
    texts = ["the man saw a dog", "<s> the man", " = Alpha = \n the man ( a dog ) \n", "", "<|endoftext|>the"]
    for name, tokenizer in (("bos", bos), ("plain", plain)):
        tokenizer.save_pretrained(tmp_path / name)
        proc = subprocess.run([LM_EVAL_PYTHON, "-c", LM_EVAL_ENCODING, str(tmp_path / name), json.dumps(pairs),
                               json.dumps(texts)], capture_output=True, text=True, timeout=300, check=False,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert [list(map(list, encode_pair(tokenizer, *p))) for p in pairs] == report["pairs"], name
        assert [lm_eval_encode(tokenizer, t) for t in texts] == report["texts"], name
        assert lm_eval_prefix_token_id(tokenizer) == report["prefix"]


# ----------------------------------------------------------------------------------------------------------------------
# lm-evaluation-harness's rolling windows (loglikelihood_rolling) and documents
# ----------------------------------------------------------------------------------------------------------------------
def rolling_gpt() -> GPTForCausalLM:
    model = tiny_gpt(50, n_positions=32, init=0.2)
    model.config.bos_token_id, model.config.eos_token_id = 1, 2
    return model


def test_rolling_windows_are_lm_evals():
    # derived by hand from lm_eval.utils.get_rolling_token_windows(context_len=1) + make_disjoint_window +
    # _loglikelihood_tokens' input (context + continuation)[-(max_length + 1):][:-1]
    assert rolling_token_windows([11, 12, 13, 14, 15, 16, 17], 0, 3) == [
        ([0, 11, 12], [11, 12, 13]),
        ([13, 14, 15], [14, 15, 16]),
        ([14, 15, 16], [17]),  # the last, short window keeps a full max_length input
    ]
    assert rolling_token_windows([5, 6], 9, 4) == [([9, 5], [5, 6])]
    assert rolling_token_windows([], 9, 4) == []
    for n in range(1, 30):
        windows = rolling_token_windows(list(range(100, 100 + n)), 0, 4)
        assert [t for _, targets in windows for t in targets] == list(range(100, 100 + n))  # each token once
        assert all(len(inputs) <= 4 and len(targets) <= len(inputs) for inputs, targets in windows)
    with pytest.raises(InputError, match="--max_length must be at least 1"):
        rolling_token_windows([1, 2], 0, 0)


def brute_force_loglikelihood(model, tokens: list[int], prefix: int, max_length: int) -> float:
    """Each token scored by its own forward pass over the context lm_eval's rolling windows give it: tokens
    0..L-1 see [prefix] + every token before them; a later token i, in the window whose targets end at
    end = min(L * (i // L + 1), n), sees tokens[end - L - 1: i]."""
    n, total = len(tokens), 0.0
    for i, token in enumerate(tokens):
        if i < max_length:
            context = [prefix] + tokens[:i]
        else:
            end = min(max_length * (i // max_length + 1), n)
            context = tokens[end - max_length - 1: i]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([context])).logits[0, -1]
        total += torch.log_softmax(logits.double(), dim=-1)[token].item()
    return total


@pytest.mark.parametrize("length,batch_size", [(23, 1), (24, 3), (5, 2)])
def test_rolling_loglikelihood_equals_brute_force(length, batch_size):
    model = rolling_gpt()
    rng = random.Random(length)
    tokens = [rng.randrange(3, 50) for _ in range(length)]
    max_length = 8
    result = rolling_loglikelihood(model, tokens, max_length, prefix_token_id=1, batch_size=batch_size)
    expected = brute_force_loglikelihood(model, tokens, 1, max_length)
    assert result["tokens"] == length
    assert result["windows"] == math.ceil(length / max_length)
    assert result["loglikelihood"] == pytest.approx(expected, rel=1e-5, abs=1e-5)
    # the prefix comes from the config's bos token when not given
    assert rolling_loglikelihood(model, tokens, max_length)["loglikelihood"] == \
        pytest.approx(result["loglikelihood"], rel=1e-6)


def test_rolling_loglikelihood_of_a_text_that_fits_is_one_forward_pass():
    model = rolling_gpt()
    tokens = [7, 8, 9, 10, 11, 12]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[1] + tokens[:-1]])).logits[0]
    expected = torch.log_softmax(logits.double(), -1).gather(-1, torch.tensor(tokens)[:, None]).sum().item()
    assert rolling_loglikelihood(model, tokens, 16, 1)["loglikelihood"] == pytest.approx(expected, rel=1e-6)


def test_rolling_loglikelihoods_batch_the_windows_of_several_documents():
    model = rolling_gpt()
    rng = random.Random(3)
    documents = [[rng.randrange(3, 50) for _ in range(n)] for n in (3, 17, 0, 8, 1, 12, 25)]
    expected = [brute_force_loglikelihood(model, doc, 2, 8) for doc in documents]
    for batch_size in (1, 4, 7):  # windows of different lengths share a forward pass, padded on the right
        got = rolling_loglikelihoods(model, documents, 8, prefix_token_id=2, batch_size=batch_size)
        assert [g["loglikelihood"] for g in got] == pytest.approx(expected, rel=1e-5, abs=1e-5)
        assert [g["tokens"] for g in got] == [len(doc) for doc in documents]
        assert [g["windows"] for g in got] == [math.ceil(len(doc) / 8) for doc in documents]


def test_prefix_token_is_lm_evals():
    class Tok:
        bos_token_id, eos_token_id = None, 2

    assert lm_eval_prefix_token_id(Tok()) == 2
    Tok.bos_token_id = 1
    assert lm_eval_prefix_token_id(Tok()) == 1
    Tok.bos_token_id = Tok.eos_token_id = None
    with pytest.raises(InputError, match="neither a bos nor an eos"):
        lm_eval_prefix_token_id(Tok())


DOCUMENTS_TEXT = (" \r\n = Alpha = \r\n \r\n the man saw a dog , the big @-@ red house . \r\n = = Early = = \r\n"
                  " a dog ( walked ) into the house \r\n = Beta = \r\n the man walked \r\n")


def test_split_documents():
    assert split_documents(DOCUMENTS_TEXT, "wikitext") == [
        (" = Alpha = \n \n the man saw a dog , the big @-@ red house . \n = = Early = = \n a dog ( walked ) into the "
         "house "), " = Beta = \n the man walked \n"]
    assert split_documents("a b\r\n \n c\rd", "lines") == ["a b", " c", "d"]
    assert split_documents("a b\r\n \n c", "file") == ["a b\n \n c"]
    assert split_documents("no heading\nhere", "wikitext") == ["no heading\nhere"]  # one document, as the file
    with pytest.raises(InputError, match="--document_split must be one of wikitext, lines, file"):
        split_documents("a", "paragraphs")


def test_score_documents_equals_hand_computation():
    tokenizer = bos_word_tokenizer()
    model = tiny_gpt(len(BOS_WORDS), n_positions=16, init=0.5)
    pages = split_documents(DOCUMENTS_TEXT, "wikitext")
    for detokenize in ("none", "wikitext"):
        texts = [wikitext_detokenizer(p) for p in pages] if detokenize == "wikitext" else pages
        # lm_eval: the tokenizer's default special tokens (here a BOS), then the bos as prefix token
        ids = [tokenizer(t)["input_ids"] for t in texts]
        assert all(i[0] == 0 for i in ids)
        expected = [brute_force_loglikelihood(model, i, 0, 6) for i in ids]
        scores = score_documents(model, tokenizer, pages, max_length=6, detokenize=detokenize, batch_size=3)
        assert [s["loglikelihood"] for s in scores["per_example"]] == pytest.approx(expected, rel=1e-5)
        words = [len(re.split(r"\s+", p)) for p in pages]  # of the original pages, with re.split's empty ends
        num_bytes = sum(len(p.encode("utf-8")) for p in pages)
        assert [s["words"] for s in scores["per_example"]] == words and scores["bytes"] == num_bytes
        assert scores["documents"] == 2 and scores["tokens"] == sum(map(len, ids))
        assert scores["word_perplexity"] == pytest.approx(math.exp(-sum(expected) / sum(words)), rel=1e-5)
        assert scores["byte_perplexity"] == pytest.approx(math.exp(-sum(expected) / num_bytes), rel=1e-5)
        assert scores["bits_per_byte"] == pytest.approx(-sum(expected) / num_bytes / math.log(2), rel=1e-5)
    assert wikitext_detokenizer(pages[0]).startswith(" = Alpha =\n\nthe man saw a dog, the big-red house.\n")
    with pytest.raises(InputError, match="--detokenize must be one of none, wikitext"):
        score_documents(model, tokenizer, pages, 6, detokenize="moses")


def test_eval_command_documents(saved_tiny_lm, tmp_path):
    main = load_script(EVAL_PERPLEXITY).main
    text = tmp_path / "wiki.txt"
    text.write_text(" = Alpha = \n the man saw a dog \n = = Early = = \n a woman walked into the big red house with a "
                    "small dog \n = Beta = \n the man ran home \n = Gamma = \n a dog \n", encoding="utf-8")
    results = {}
    for implementation in ("hf_models", "transformers"):
        output = tmp_path / f"documents-{implementation}.json"
        results[implementation] = main([
            "--task", "documents", "--model_name_or_path", str(saved_tiny_lm), "--implementation", implementation,
            "--text_file", str(text), "--detokenize", "wikitext", "--max_length", "8", "--batch_size", "3",
            "--max_samples", "2", "--write_predictions", "--output_file", str(output), "--disable_tqdm", "true"])
        assert json.loads(output.read_text())["word_perplexity"] == results[implementation]["word_perplexity"]
    ours, theirs = results["hf_models"], results["transformers"]
    assert ours["word_perplexity"] == pytest.approx(theirs["word_perplexity"], rel=1e-5)
    assert ours["documents"] == 2 and ours["document_split"] == "wikitext" and ours["max_length"] == 8
    pages = read_documents(text, "wikitext", max_samples=2)
    assert ours["words"] == sum(len(re.split(r"\s+", p)) for p in pages)
    tokenizer = load_lm_tokenizer(str(saved_tiny_lm))
    model = GPTForCausalLM.from_pretrained(saved_tiny_lm).eval()
    expected = [brute_force_loglikelihood(model, tokenizer(wikitext_detokenizer(p))["input_ids"],
                                          tokenizer.eos_token_id, 8) for p in pages]  # no bos: the eos is the prefix
    assert [p["loglikelihood"] for p in ours["predictions"]] == pytest.approx(expected, rel=1e-5)
    assert ours["tokens"] == sum(p["tokens"] for p in ours["predictions"])
    assert [p["windows"] for p in ours["predictions"]] == [math.ceil(p["tokens"] / 8) for p in ours["predictions"]]
    assert ours["windows"] > 2  # a document longer than one window
    lines = main(["--task", "documents", "--model_name_or_path", str(saved_tiny_lm), "--text_file", str(text),
                  "--document_split", "lines", "--output_dir", str(tmp_path / "out"), "--disable_tqdm", "true"])
    assert lines["documents"] == 8 and lines["detokenize"] == "none" and lines["max_length"] == 16
    assert (tmp_path / "out" / "eval_results.json").is_file()


# ----------------------------------------------------------------------------------------------------------------------
# Real data (../shared/data)
# ----------------------------------------------------------------------------------------------------------------------
def test_real_gpt2_tokenizer_and_lambada(shared_data_dir):
    tokenizer = load_lm_tokenizer(str(shared_data_dir / "tokenizers" / "gpt2"))
    assert tokenizer("Hello world")["input_ids"] == [15496, 995] and tokenizer.eos_token_id == 50256
    passages = read_lambada(shared_data_dir / "lambada" / "lambada_test.jsonl")
    assert len(passages) == 5153
    context, target = encode_pair(tokenizer, *lambada_split(passages[0]))
    assert tokenizer.decode(target) == " signs" and tokenizer.decode(context).endswith("I don't care about")


def test_ptb_word_tokenizer_counts_words_and_eos_like_the_ngram_models(shared_data_dir):
    valid = (shared_data_dir / "ptb" / "ptb.valid.txt").read_text(encoding="utf-8")
    tokenizer = train_word_tokenizer(valid.splitlines())
    assert tokenizer.unk_token_id == tokenizer.get_vocab()[WORD_UNK_TOKEN]
    # MANIFEST: 73760 tokens including <eos> (70390 words + 3370 lines), 6021 distinct words (<unk> among them)
    assert len(text_to_ids(tokenizer, valid, "lines")) == 73760
    assert len(tokenizer) == 6021 + 1  # and <eos>
