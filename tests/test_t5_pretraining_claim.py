"""benchmarks/t5_pretraining_claim.py: a tiny run of every step (tokenizer, span-corruption pretraining, the scratch
checkpoint, text-to-text fine-tuning on SST-2, MRPC, STS-B and Multi30k for both models) on the real data with a
d_model-32 T5 and a few steps each; the results file's structure and numbers; a rerun that skips the finished steps
and redoes a cut one; other settings refused; and the scratch checkpoint being exactly the weights pretraining
starts from."""

from __future__ import annotations

import json
import math

import pytest
from conftest import requires_shared_data, shared_data_dir

from benchmarks import t5_pretraining_claim as claim

TINY = ["--vocab_size", "1000", "--d_model", "32", "--num_layers", "1", "--num_heads", "2", "--d_ff", "64",
        "--max_seq_length", "32", "--pretrain_max_steps", "3", "--pretrain_eval_steps", "2",
        "--pretrain_max_eval_samples", "16", "--finetune_max_steps", "2", "--max_eval_samples", "8",
        "--sst2_train_samples", "64", "--multi30k_train_samples", "64", "--multi30k_max_length", "16",
        "--threads", "1"]


def real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@requires_shared_data
@pytest.mark.slow
def test_every_step_runs_resumes_and_refuses_other_settings(tmp_path, capsys):
    root, output = tmp_path / "root", tmp_path / "claim.json"
    argv = ["--data_dir", str(shared_data_dir()), "--output_root", str(root), "--output", str(output), *TINY]
    report = claim.main(argv)
    assert json.loads(output.read_text(encoding="utf-8")) == json.loads(json.dumps(report))

    # the tokenizer: T5's layout, German and the label words spelled without <unk>
    tokenizer = report["tokenizer"]
    assert tokenizer["vocab_size"] == 1000 and tokenizer["german_lines"] > 0
    assert "<unk>" not in tokenizer["example"] and "▁Mädchen" in tokenizer["example"]
    assert real(tokenizer["tokens"]["train"]) and tokenizer["tokens"]["train"] > 200_000
    saved = json.loads((root / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert [piece for piece, _ in saved[:3]] == ["<pad>", "</s>", "<unk>"] and saved[-1][0] == "<extra_id_0>"

    # pretraining: the command, validation before training (the scratch model) and at the end
    pre = report["pretraining"]
    assert "training/pretrain.py --objective span_corruption" in pre["command"]
    assert f"--tokenizer_name_or_path {root / 'tokenizer'}" in pre["command"]
    assert "--train_files ../shared/data/wikitext2/valid.txt" in pre["command"]
    assert real(pre["wall_seconds"]) and pre["eval_target"]["steps"] == 3
    for key in ("eval_target_loss", "eval_target_perplexity", "eval_target_accuracy"):
        assert real(pre["metrics"][key]) and real(pre["eval_target"]["at_start"][key])
    assert pre["eval_target"]["curve"][0]["step"] == 0
    assert report["scratch"]["parameters"] > 0 and json.loads(
        (root / "scratch" / "config.json").read_text())["d_model"] == 32

    # fine-tuning: every task for both models, their scores real numbers
    assert sorted(report["runs"]) == sorted(f"{task}/{variant}/seed42" for task in claim.TASKS
                                            for variant in claim.VARIANTS)
    for name, run in report["runs"].items():
        task = run["task"]
        script = "run_translation.py" if task == "multi30k" else "run_glue.py"
        assert f"training/{script} --model_name_or_path {root / run['variant']}" in run["command"], name
        assert "--max_steps 2" in run["command"] and real(run["wall_seconds"]) and not run["resumed"]
        for key in claim.SCORES[task]:
            assert real(run["metrics"][key]), (name, key)
        if task != "multi30k":
            assert run["metrics"]["eval_samples"] == 8 and 0 <= run["metrics"]["eval_invalid_predictions"] <= 8
        assert not list((root / "finetune" / name).glob("checkpoint-*"))  # pruned once done
    assert "--max_train_samples 64" in report["runs"]["sst2/scratch/seed42"]["command"]
    for variant in claim.VARIANTS:
        for task in claim.TASKS:
            for key in claim.SCORES[task]:
                assert real(report["scores"][variant][task][key]["mean"]), (variant, task, key)
    assert set(report["pretraining_gain"]) == set(claim.TASKS) and not report["missing_runs"]

    # baselines: majority class on the examples the runs see, the copied source for Multi30k
    base = report["baselines"]
    assert base["sst2"]["train_examples"] == 64 and base["sst2"]["dev_examples"] == 8
    assert base["mrpc"]["label"] == "equivalent" and real(base["mrpc"]["eval_f1"])
    assert base["stsb"]["eval_pearson"] is None and real(base["multi30k"]["predict_bleu"])

    # the table and the shortened flags
    assert report["shortened"] and {"pretrain_max_steps", "finetune_max_steps", "max_eval_samples",
                                    "sst2_train_samples"} <= set(report["shortened_by"])
    table = report["markdown"]
    assert "| pretrained |" in table and "| scratch |" in table and "STS-B Pearson" in table
    assert "Shortened run" in table and "n/a" not in table
    assert capsys.readouterr().out.rstrip().endswith(table)

    # a rerun skips every finished step; a cut fine-tuning run (no all_results.json) is done again
    (root / "finetune" / "multi30k" / "scratch" / "seed42" / "all_results.json").unlink()
    again = claim.main(argv)
    out = capsys.readouterr().out
    for step in ("tokenizer", "pretraining", "scratch", *(f"{t}/{v}/seed42" for t in claim.GLUE_TASKS
                                                          for v in claim.VARIANTS), "multi30k/pretrained/seed42"):
        assert f"{step}: done earlier" in out, step
    assert "multi30k/scratch/seed42: running" in out
    assert again["runs"]["sst2/pretrained/seed42"]["wall_seconds"] == report["runs"]["sst2/pretrained/seed42"][
        "wall_seconds"]  # carried over from the first run's results
    assert again["pretraining"]["metrics"] == pre["metrics"]
    assert real(again["runs"]["multi30k/scratch/seed42"]["metrics"]["eval_bleu"])

    # --report_only runs nothing and reports the same
    only = claim.main([*argv, "--report_only"])
    assert only["scores"] == again["scores"]

    # other settings are refused, naming the setting
    with pytest.raises(SystemExit, match=r"settings\.json: .*--d_model 32 there, 64 now"):
        claim.main([*argv, "--d_model", "64"])


def test_output_root_refuses_other_settings(tmp_path):
    """More seeds, tasks or variants extend a folder; a changed model or schedule is refused."""
    claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "4", "--seeds", "42"]))
    claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "4.0", "--seeds", "42", "43",
                                                        "--tasks", "sst2", "--variants", "scratch"]))
    with pytest.raises(SystemExit, match=r"settings\.json: .*--pretrain_epochs 4\.0 there, 2\.0 now"):
        claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "2"]))
    with pytest.raises(SystemExit, match=r"--finetune_lr 0\.0005 there, 0\.001 now"):
        claim.check_fingerprint(tmp_path, claim.parse_args(["--pretrain_epochs", "4", "--finetune_lr", "1e-3"]))


def test_scratch_checkpoint_is_the_init_pretraining_starts_from(tmp_path):
    """build_scratch (the pretrained folder's config + tokenizer, set_seed(seed), from_config) gives exactly the
    weights pretrain.py starts from: one step at learning rate 0 leaves them in the saved folder."""
    import torch
    from safetensors.torch import load_file

    from training.pretrain import main as pretrain

    words = ["the", "a", "jury", "said", "evidence", "was", "found", "in", "every", "town", "and", "king", "of", "it",
             "by", "her", "light", "day", "night"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(5 + i % 9)).capitalize()
                              + ".\n" + ("\n" if i % 6 == 5 else "") for i in range(240)))
    pretrained = tmp_path / "pretrained"
    pretrain(["--objective", "span_corruption", "--train_files", str(corpus), "--vocab_size", "200",
              "--max_seq_length", "16", "--hidden_size", "16", "--num_hidden_layers", "1",
              "--num_attention_heads", "2", "--intermediate_size", "32", "--do_train", "--max_steps", "1",
              "--learning_rate", "0", "--per_device_train_batch_size", "2", "--save_strategy", "no",
              "--output_dir", str(pretrained), "--use_cpu", "--report_to", "none", "--seed", "42",
              "--disable_tqdm", "true"])
    claim.build_scratch(pretrained, tmp_path / "scratch", 42)
    claim.build_scratch(pretrained, tmp_path / "other_seed", 7)
    start = load_file(pretrained / "model.safetensors")
    scratch = load_file(tmp_path / "scratch" / "model.safetensors")
    other = load_file(tmp_path / "other_seed" / "model.safetensors")
    assert sorted(scratch) == sorted(start)
    assert all(torch.equal(scratch[name], start[name]) for name in start)
    assert not all(torch.equal(other[name], start[name]) for name in start)
    assert json.loads((tmp_path / "scratch" / "config.json").read_text())["d_model"] == 16
    assert (tmp_path / "scratch" / "tokenizer.json").read_text() == (pretrained / "tokenizer.json").read_text()
    assert json.loads((tmp_path / "scratch" / "scratch.json").read_text())["seed"] == 42
    # the same generation settings (the KV cache on): only the weights differ
    assert json.loads((tmp_path / "scratch" / "generation_config.json").read_text()) == json.loads(
        (pretrained / "generation_config.json").read_text())
    assert json.loads((tmp_path / "scratch" / "generation_config.json").read_text()).get("use_cache", True)
