"""eval/eval_prompting.py end to end on tiny models: a random hf_models GPT with a tiny BPE tokenizer, a tiny n-gram
LM (its vocabulary as the tokenizer) and a tiny LSTM LM, on the package's sample SST-2 and on small user files.
Results and samples agree (accuracy = the fraction of `correct`), a rerun resumes, changed settings are refused, a
shot curve writes its plot and table, bad input is one line with exit status 2. Real-data runs (GSM8K few-shot CoT,
LAMBADA) are tiny and skip without ../shared/data. Also: `score_continuations` on a model without parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_models.cli_utils import InputError, run_main
from hf_models.gpt import GPTConfig, GPTForCausalLM
from hf_models.tasks.causal_lm import score_continuations, train_bpe_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "eval" / "eval_prompting.py"
SST2_DEV = ROOT / "hf_models" / "data" / "sst2_dev.tsv"
SST2_TRAIN = ROOT / "hf_models" / "data" / "sst2_train_sample.tsv"
CORPUS = ["the movie was great and the acting was wonderful", "a dull and boring film with bad acting",
          "Question: Is this sentence positive or negative?\nAnswer: positive", "Q: how many apples are left?\nA: 3",
          "the answer is 42 . there were 7 cats and 5 dogs in the garden", "True or False? negative"] * 20
WORDS = " ".join(CORPUS).replace("\n", " ").split()


def main(argv):
    sys.path.insert(0, str(ROOT))
    try:
        from eval.eval_prompting import main as command
    finally:
        sys.path.remove(str(ROOT))
    return command([str(a) for a in argv] + ["--disable_tqdm", "--log_level", "warning"])


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt")
    tokenizer = train_bpe_tokenizer(CORPUS, vocab_size=300, max_length=256)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=len(tokenizer), n_positions=2048, n_embd=16, n_layer=2, n_head=2, embd_pdrop=0.0,
                       resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3,
                       bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def ngram_dir(tmp_path_factory):
    from hf_models.ngram import train_ngram

    folder = tmp_path_factory.mktemp("ngram")
    train_ngram([s.split() for s in CORPUS] + [["negative"], ["positive"]], order=2, smoothing="add_k",
                k=0.1).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lstm_dir(tmp_path_factory):
    from hf_models.rnn import RnnConfig, RnnForCausalLM
    from hf_models.rnn.language_modeling import build_tokenizer

    folder = tmp_path_factory.mktemp("lstm")
    vocab = {word: i for i, word in enumerate(["<unk>", "<eos>", *sorted(set(WORDS))])}
    tokenizer = build_tokenizer(vocab, unk_token="<unk>")
    torch.manual_seed(0)
    RnnForCausalLM(RnnConfig(vocab_size=len(vocab), hidden_size=16, num_layers=1, cell_type="lstm",
                             initializer_range=0.5)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def quiz(tmp_path):
    """A user's jsonl: a question, its options and the gold answer (by text, letter or index)."""
    forms = [("yes", "no"), ("A", "B"), (0, 1)]  # the gold by its text, its letter or its index
    rows = [{"question": f"is {i} an even number?", "choices": ["yes", "no"], "answer": forms[i % 3][i % 2],
             "sum": str(i + 1)} for i in range(6)]
    path = tmp_path / "quiz.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def results_of(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def samples_of(out: Path, task: str, k: int) -> list[dict]:
    lines = (out / f"samples_{task}_{k}shot.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def check_agrees(out: Path) -> None:
    """Every result's accuracy is the fraction of `correct` in its samples file, over n examples."""
    results = results_of(out)
    assert results["results"]
    for task, by_shots in results["results"].items():
        for k, entry in by_shots.items():
            samples = samples_of(out, task, int(k))
            assert len(samples) == entry["n"] > 0
            assert entry["accuracy"]["value"] == pytest.approx(sum(s["correct"] for s in samples) / len(samples))
            assert entry["accuracy"]["ci_low"] <= entry["accuracy"]["value"] <= entry["accuracy"]["ci_high"]


def one_line_error(argv, capsys) -> str:
    """run_main's message for a bad input: one line 'PROG: error: ...' and exit status 2."""
    sys.path.insert(0, str(ROOT))
    try:
        from eval.eval_prompting import main as command
    finally:
        sys.path.remove(str(ROOT))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_main(command, [str(a) for a in argv] + ["--disable_tqdm", "--log_level", "error"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ": error: " in err, err
    return err


# ----------------------------------------------------------------------------------------------------------------------
# The fix: scoring a model without parameters (the n-gram LM)
# ----------------------------------------------------------------------------------------------------------------------
def test_score_continuations_runs_on_a_model_without_parameters(ngram_dir):
    """causal_lm.score_continuations found the device with next(model.parameters()), StopIteration for an n-gram."""
    from hf_models.ngram import NGramLanguageModel

    model = NGramLanguageModel.from_pretrained(ngram_dir)
    assert not list(model.parameters())
    ids = model.vocab.encode(["<s>", "the", "movie", "was", "great"]).tolist()
    scores = score_continuations(model, [(ids[:4], ids[4:]), (ids[:2], ids[2:])], max_length=64)
    logits = model(torch.tensor([ids])).logits[0].log_softmax(-1)
    assert scores[0]["log_likelihood"] == pytest.approx(logits[3, ids[4]].item(), abs=1e-5)
    assert scores[1]["log_likelihood"] == pytest.approx(sum(logits[t - 1, ids[t]].item() for t in (2, 3, 4)), abs=1e-5)


def test_wilson_interval_holds_the_accuracy_at_zero_and_one():
    """At 0 or n successes one end of Wilson's interval is p itself; rounding put it 1e-17 on the wrong side (n = 5)."""
    from hf_models.prompting import wilson_interval

    for n in range(1, 101):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
        low, high = wilson_interval(n // 3, n)
        assert low <= n // 3 / n <= high


# ----------------------------------------------------------------------------------------------------------------------
# Runs, results, samples, resuming
# ----------------------------------------------------------------------------------------------------------------------
def test_loglikelihood_curve_on_sample_sst2_resumes_and_refuses_other_settings(gpt_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--fewshot_pool",
            SST2_TRAIN, "--limit", 6, "--batch_size", 4, "--output_dir", out]
    main(argv + ["--num_fewshot", 0, 2])
    results = results_of(out)
    assert set(results["results"]["sst2"]) == {"0", "2"}
    entry = results["results"]["sst2"]["2"]
    assert entry["n"] == 6 and entry["shortened"] and entry["examples_total"] == 872 and entry["mode"] == "loglikelihood"
    assert set(entry["metrics"]) >= {"acc", "acc_norm"} and entry["seconds"] > 0
    assert entry["settings"]["fewshot_pool"] == str(SST2_TRAIN) and entry["settings"]["seed"] == 1234
    check_agrees(out)
    sample = samples_of(out, "sst2", 2)[0]
    assert sample["prompt"].endswith("Question: Is this sentence positive or negative?\nAnswer:")
    assert sample["prompt"].count("Answer:") == 3 and len(sample["demonstrations"]) == 2
    assert sample["continuations"] == [" negative", " positive"] and len(sample["log_likelihoods"]) == 2
    assert sample["correct"] == float(sample["pred"] == sample["gold"])
    assert samples_of(out, "sst2", 0)[0]["prompt"].count("Answer:") == 1
    # the curve: a plot and a table
    assert (out / "accuracy_vs_shots.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "accuracy_vs_shots.md").read_text(encoding="utf-8")
    assert "| task | 0-shot | 2-shot |" in table and f"{entry['accuracy']['value']:.3f}" in table
    rows = (out / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4 and "| sst2 2-shot loglikelihood |" in rows[3]

    # the same settings: finished pairs are skipped, a new shot count is run
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("samples_*")}
    main(argv + ["--num_fewshot", 0, 2, 4, "--batch_size", 2])
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("samples_*") if p.name in stamps} == stamps
    assert set(results_of(out)["results"]["sst2"]) == {"0", "2", "4"}
    assert results_of(out)["results"]["sst2"]["2"] == entry
    check_agrees(out)
    # other settings: refused, nothing touched; --overwrite_output_dir replaces the folder's contents
    with pytest.raises(InputError, match=r"holds results with other settings \(--seed 1234 -> 7\).*overwrite_output"):
        main(argv + ["--num_fewshot", 0, "--seed", 7])
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("samples_*") if p.name in stamps} == stamps
    main(argv + ["--num_fewshot", 1, "--seed", 7, "--overwrite_output_dir"])
    assert set(results_of(out)["results"]["sst2"]) == {"1"} and not (out / "samples_sst2_0shot.jsonl").exists()
    assert results_of(out)["settings"]["seed"] == 7


def test_an_interrupted_run_keeps_its_finished_results_and_resumes(gpt_dir, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    try:
        import eval.eval_prompting as command
    finally:
        sys.path.remove(str(ROOT))
    out = tmp_path / "out"
    argv = ["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--num_fewshot", 0, 1,
            "--limit", 3, "--output_dir", out]
    evaluate, calls = command.evaluate, []

    def interrupted(*args, **kwargs):
        calls.append(args[3])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(command, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert set(results_of(out)["results"]["sst2"]) == {"0"}  # the finished result stays
    calls.clear()
    main(argv)
    assert calls == [1] and set(results_of(out)["results"]["sst2"]) == {"0", "1"}
    check_agrees(out)


def test_chain_of_thought_modes_on_a_tiny_arithmetic_file(gpt_dir, tmp_path):
    arith = tmp_path / "arith.json"
    arith.write_text(json.dumps([{"sQuestion": f"Tom has {i} apples and buys 2. How many?", "lSolutions": [i + 2]}
                                 for i in range(3)]), encoding="utf-8")
    base = ["--model_name_or_path", gpt_dir, "--task", "multiarith", "--data_file", arith, "--max_new_tokens", 3]
    main(base + ["--mode", "cot_fewshot", "--num_fewshot", 2, "--output_dir", tmp_path / "cot"])
    entry = results_of(tmp_path / "cot")["results"]["multiarith"]["2"]
    assert entry["settings"]["fewshot_pool"].startswith("Wei et al.") and entry["n"] == 3
    assert entry["settings"]["template"] == "Q: {question}\nA:" and entry["settings"]["extractor"] == "last_number"
    sample = samples_of(tmp_path / "cot", "multiarith", 2)[0]
    assert sample["prompt"].startswith("Q: There are 15 trees") and "The answer is 5.\n\nQ: Tom has 0" in sample[
        "prompt"]
    check_agrees(tmp_path / "cot")
    main(base + ["--mode", "fewshot_standard", "--num_fewshot", 2, "--output_dir", tmp_path / "standard"])
    entry = results_of(tmp_path / "standard")["results"]["multiarith"]["2"]
    assert entry["settings"]["target_template"] == "The answer is {target}." and entry["mode"] == "fewshot_standard"
    sample = samples_of(tmp_path / "standard", "multiarith", 2)[0]  # Wei et al.'s standard prompting: no reasoning
    assert sample["prompt"].startswith("Q: There are 15 trees in the grove.") and "A: The answer is 6.\n\nQ: If" in \
        sample["prompt"] and "originally" not in sample["prompt"]
    check_agrees(tmp_path / "standard")
    main(base + ["--mode", "cot_zeroshot", "--output_dir", tmp_path / "zero"])
    sample = samples_of(tmp_path / "zero", "multiarith", 0)[1]
    assert sample["prompt"] == "Q: Tom has 1 apples and buys 2. How many?\nA: Let's think step by step."
    assert sample["answer_prompt"].endswith("Therefore, the answer (arabic numerals) is") and sample["gold"] == "3"
    check_agrees(tmp_path / "zero")
    main(base + ["--mode", "self_consistency", "--num_fewshot", 1, "--num_samples", 3, "--output_dir",
                 tmp_path / "sc"])
    sample = samples_of(tmp_path / "sc", "multiarith", 1)[2]
    assert len(sample["generations"]) == len(sample["answers"]) == 3 and sample["demonstrations"] == [0]
    check_agrees(tmp_path / "sc")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--num_fewshot", "--fewshot_pool", "--mode", "--num_samples", "--chat_template", "--limit",
                 "--overwrite_output_dir", "--implementation", "--bf16", "--template", "--options_field"):
        assert flag in text


def test_a_folder_with_other_files_is_refused(gpt_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="not empty"):
        main(["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--limit", 2,
              "--output_dir", out])
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_both_implementations_score_alike(gpt_dir, tmp_path):
    """--implementation transformers runs the hf_models GPT folder through transformers' GPT-2 classes."""
    argv = ["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--num_fewshot", 1,
            "--limit", 3]
    main(argv + ["--output_dir", tmp_path / "ours"])
    main(argv + ["--implementation", "transformers", "--output_dir", tmp_path / "theirs"])
    assert results_of(tmp_path / "theirs")["results"]["sst2"]["1"]["settings"]["implementation"] == "transformers"
    ours, theirs = samples_of(tmp_path / "ours", "sst2", 1), samples_of(tmp_path / "theirs", "sst2", 1)
    assert [s["prompt"] for s in ours] == [s["prompt"] for s in theirs]
    for a, b in zip(ours, theirs):
        assert a["log_likelihoods"] == pytest.approx(b["log_likelihoods"], abs=1e-4)


def test_generate_mode_on_sample_sst2(gpt_dir, tmp_path):
    out = tmp_path / "out"
    main(["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--mode", "generate",
          "--num_fewshot", 1, "--max_new_tokens", 3, "--limit", 4, "--output_dir", out])
    entry = results_of(out)["results"]["sst2"]["1"]
    assert entry["mode"] == "generate" and entry["settings"]["extractor"] == "option"
    assert entry["settings"]["max_new_tokens"] == 3
    assert "the evaluated examples" in entry["settings"]["fewshot_pool"]
    check_agrees(out)
    for sample in samples_of(out, "sst2", 1):
        assert {"prompt", "generation", "prediction", "gold", "correct"} <= set(sample)
        assert sample["prediction"] in ("", "negative", "positive", "A", "B")
        assert sample["correct"] == float(sample["prediction"] == sample["gold"] or
                                          (sample["prediction"], sample["gold"]) in (("A", "negative"),
                                                                                     ("B", "positive")))
    assert not (out / "accuracy_vs_shots.png").exists()  # one shot count: no curve


def test_user_jsonl_with_options_and_with_free_answers(gpt_dir, quiz, tmp_path):
    out = tmp_path / "ranked"
    main(["--model_name_or_path", gpt_dir, "--data_file", quiz, "--template", "Q: {question}\\nA:",
          "--options_field", "choices", "--num_fewshot", 2, "--output_dir", out])
    entry = results_of(out)["results"]["quiz"]["2"]
    assert entry["n"] == 6 and not entry["shortened"] and entry["mode"] == "loglikelihood"
    sample = samples_of(out, "quiz", 2)[3]
    assert sample["gold"] == 1 and sample["continuations"] == [" yes", " no"]
    assert sample["prompt"].endswith("Q: is 3 an even number?\nA:") and 3 not in sample["demonstrations"]
    assert [s["gold"] for s in samples_of(out, "quiz", 2)] == [0, 1, 0, 1, 0, 1]
    check_agrees(out)
    out = tmp_path / "generated"
    main(["--model_name_or_path", gpt_dir, "--data_file", quiz, "--template", "Q: what is {sum} minus one?\\nA:",
          "--answer_field", "sum", "--task_name", "sums", "--extractor", "last_number", "--max_new_tokens", 4,
          "--limit", 3, "--output_dir", out])
    entry = results_of(out)["results"]["sums"]["0"]
    assert entry["mode"] == "generate" and entry["shortened"] and entry["n"] == 3
    assert [s["gold"] for s in samples_of(out, "sums", 0)] == ["1", "2", "3"]
    check_agrees(out)


def test_demonstrations_that_do_not_fit_are_dropped_and_said(gpt_dir, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="hf_models.eval_prompting"):
        main(["--model_name_or_path", gpt_dir, "--task", "sst2", "--data_file", SST2_DEV, "--fewshot_pool",
              SST2_TRAIN, "--num_fewshot", 8, "--max_length", 120, "--limit", 3, "--output_dir", out])
    entry = results_of(out)["results"]["sst2"]["8"]
    assert entry["prompts_with_dropped_demonstrations"] == 3 and entry["dropped_demonstrations"] > 3
    assert "lost" in caplog.text and "demonstrations" in caplog.text
    for sample in samples_of(out, "sst2", 8):
        assert sample["prompt_tokens"] + 2 <= 120 and len(sample["demonstrations"]) + sample[
            "dropped_demonstrations"] == 8
    check_agrees(out)


def test_ngram_and_lstm_language_models(ngram_dir, lstm_dir, quiz, tmp_path):
    out = tmp_path / "ngram"
    main(["--model_name_or_path", ngram_dir, "--task", "sst2", "--data_file", SST2_DEV, "--num_fewshot", 0, 1,
          "--limit", 5, "--output_dir", out])
    assert set(results_of(out)["results"]["sst2"]) == {"0", "1"} and (out / "accuracy_vs_shots.png").is_file()
    check_agrees(out)
    # the n-gram's scores are its own: the first option's log-likelihood after the prompt's last word
    from hf_models.ngram import NGramLanguageModel

    model = NGramLanguageModel.from_pretrained(ngram_dir)
    sample = samples_of(out, "sst2", 0)[0]
    assert sample["tokens"] == [1, 1]
    answer = model.vocab.word_to_id["Answer:"]
    expected = []
    for word in ("negative", "positive"):  # a bigram model: p(option | "Answer:")
        target = model.vocab.word_to_id[word]
        expected.append(model(torch.tensor([[answer, target]])).logits[0, 0, target].item())
    assert sample["log_likelihoods"] == pytest.approx(expected, abs=1e-5)
    out = tmp_path / "ngram_generate"
    main(["--model_name_or_path", ngram_dir, "--data_file", quiz, "--template", "Q: {question}\\nA:",
          "--options_field", "choices", "--mode", "generate", "--max_new_tokens", 3, "--output_dir", out])
    check_agrees(out)
    out = tmp_path / "lstm"
    main(["--model_name_or_path", lstm_dir, "--task", "sst2", "--data_file", SST2_DEV, "--num_fewshot", 1,
          "--limit", 4, "--output_dir", out])
    assert results_of(out)["results"]["sst2"]["1"]["settings"]["implementation"] == "hf_models"
    check_agrees(out)


# ----------------------------------------------------------------------------------------------------------------------
# Bad input: one line, exit status 2
# ----------------------------------------------------------------------------------------------------------------------
def test_bad_input_is_one_line_with_exit_status_2(gpt_dir, quiz, tmp_path, capsys):
    base = ["--model_name_or_path", gpt_dir, "--output_dir", tmp_path / "out"]
    user = ["--data_file", quiz, "--options_field", "choices"]
    err = one_line_error(base + user + ["--template", "Q: {question} ({topic})\\nA:"], capsys)
    assert "quiz.jsonl, line 1: no field 'topic'" in err
    err = one_line_error(base + user + ["--template", "Q: {question}\\nA:", "--num_fewshot", 6], capsys)
    assert "6 demonstrations asked, but the pool holds only 5" in err
    err = one_line_error(base + ["--task", "sentiment140"], capsys)
    assert "unknown prompting task 'sentiment140'" in err
    err = one_line_error(base + user + ["--template", "Q: {question}\\nA:", "--max_length", 5], capsys)
    assert "the prompt without demonstrations is" in err and "never truncated" in err
    err = one_line_error(base + user + ["--template", "Q: {question}\\nA:", "--chat_template"], capsys)
    assert "chat template" in err
    err = one_line_error(base + user + ["--template", "Q: {question}\\nA:", "--extractor", "regex"], capsys)
    assert "--extractor must be one of last_number" in err
    err = one_line_error(base + ["--data_file", quiz], capsys)
    assert "needs --template" in err
    arith = tmp_path / "arith.json"
    arith.write_text(json.dumps([{"sQuestion": f"Tom has {i} apples and buys 2. How many?", "lSolutions": [i + 2]}
                                 for i in range(4)]), encoding="utf-8")
    err = one_line_error(base + ["--task", "multiarith", "--data_file", arith, "--mode", "cot_zeroshot",
                                 "--num_fewshot", 2], capsys)
    assert "--mode cot_zeroshot takes no demonstrations" in err
    err = one_line_error(base + ["--task", "multiarith", "--data_file", quiz], capsys)
    assert "quiz.jsonl, line 2, column 1: not valid JSON" in err
    assert not (tmp_path / "out").exists()  # nothing was left behind by the refused runs


def test_the_script_prints_one_line_and_exits_2(tmp_path):
    """As a program: the message alone, `eval_prompting.py: error: ...`, no traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HF_MODELS_TRACEBACK", None)
    result = subprocess.run([sys.executable, str(SCRIPT), "--model_name_or_path", "unused", "--task", "nope",
                             "--output_dir", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [(
        "eval_prompting.py: error: unknown prompting task 'nope'; choose one of "
        "sst2, rte, lambada, gsm8k, multiarith, addsub, singleeq, aqua, commonsenseqa, strategyqa, date, coin_flip, "
        "last_letters, or give a data file with its fields")]


# ----------------------------------------------------------------------------------------------------------------------
# Real data (tiny)
# ----------------------------------------------------------------------------------------------------------------------
def test_gsm8k_few_shot_cot_and_lambada(gpt_dir, shared_data_dir, tmp_path):
    out = tmp_path / "gsm8k"
    main(["--model_name_or_path", gpt_dir, "--task", "gsm8k", "--data_dir", shared_data_dir, "--mode", "cot_fewshot",
          "--limit", 3, "--max_new_tokens", 4, "--output_dir", out])
    entry = results_of(out)["results"]["gsm8k"]["8"]
    assert entry["n"] == 3 and entry["shortened"] and entry["examples_total"] == 1319
    assert entry["settings"]["fewshot_pool"].startswith("Wei et al.")
    check_agrees(out)
    for sample in samples_of(out, "gsm8k", 8):
        kept = len(sample["demonstrations"])
        assert kept + sample["dropped_demonstrations"] == 8 and sample["prompt"].endswith("\nA:")
        if kept:
            assert "The answer is" in sample["prompt"]
        assert sample["gold"].lstrip("-").isdigit()
    out = tmp_path / "lambada"
    main(["--model_name_or_path", gpt_dir, "--task", "lambada", "--data_dir", shared_data_dir, "--limit", 5,
          "--output_dir", out])
    entry = results_of(out)["results"]["lambada"]["0"]
    assert entry["mode"] == "loglikelihood" and entry["n"] == 5 and entry["examples_total"] == 5153
    assert entry["metrics"]["perplexity"] > 1
    check_agrees(out)


def test_a_target_outside_a_word_level_vocabulary_is_never_a_greedy_match(tmp_path):
    """A word-level LM maps an out-of-vocabulary LAMBADA target to <unk>; predicting <unk> is not producing the word.
    Here the n-gram always predicts <unk> after "sat", and the target "zebra" is outside its vocabulary."""
    from hf_models.ngram import NGramLanguageModel, train_ngram
    from hf_models.prompting import Example, PromptTemplate, evaluate_loglikelihood

    sys.path.insert(0, str(ROOT))
    try:
        from eval.eval_prompting import ngram_tokenizer
    finally:
        sys.path.remove(str(ROOT))
    train_ngram([["the", "cat", "sat", "<unk>"]] * 5 + [["the", "dog", "sat", "down"]], order=3,
                smoothing="add_k", k=0.01).save_pretrained(tmp_path)
    model = NGramLanguageModel.from_pretrained(tmp_path)
    tokenizer = ngram_tokenizer(model)
    template = PromptTemplate("{context}", "{target}", target_delimiter="")
    examples = [Example({"context": "the cat sat", "target": " zebra"}, None, " zebra", "ex 0"),
                Example({"context": "the dog sat", "target": " down"}, None, " down", "ex 1")]
    result = evaluate_loglikelihood(model, tokenizer, examples, template)
    first, second = result["per_example"]
    assert first["is_greedy"] == [True]  # the model's argmax is <unk>, the target's only token
    assert first["unknown_target"] and first["acc"] == 0.0
    assert second["acc"] == float(second["is_greedy"][0]) and not second["unknown_target"]
    assert result["unknown_targets"] == 1


def test_cached_scoring_of_one_token_and_longer_continuations_in_one_batch(lstm_dir, gpt_dir):
    """A batch whose continuations are one token and three tokens long: the one-token rows are scored from the prompt
    pass alone (an RNN refused a continuation pass where a row had no token: 'attention_mask row 0 has no real
    token'), and every score equals scoring the whole sequence without the cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_models.prompting import loglikelihood_tokens

    for folder in (lstm_dir, gpt_dir):
        model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        ids = tokenizer("the movie was great and the acting was wonderful").input_ids
        requests = [(ids[:3], ids[3:4]), (ids[1:4], ids[4:7]), (ids[2:5], ids[5:6])]  # equal context lengths
        cached = loglikelihood_tokens(model, requests, batch_size=8)
        whole = loglikelihood_tokens(model, requests, batch_size=8, cache_prefix=False)
        for a, b in zip(cached, whole):
            assert a["log_likelihood"] == pytest.approx(b["log_likelihood"], abs=1e-4)
            assert a["is_greedy"] == b["is_greedy"] and a["tokens"] == b["tokens"]
