"""benchmarks/prompting_lm_eval.py and its local lm-evaluation-harness tasks (sst2_local, gsm8k_local): the
per-example comparison of hf_models' and lm_eval's sample logs reports every differing prompt, prediction and verdict
(on made-up logs); the local files are read as the Hub's datasets hold them; a finished side is reused (a cut run
continues); the tasks' prompts, built by lm_eval's own code (a Python with lm_eval, `--model dummy`), equal
hf_models' prompts on real SST-2, GSM8K and LAMBADA examples; `--help`. Real-data checks skip without ../shared/data,
lm_eval checks without $LM_EVAL_PYTHON (default /tmp/lmeval/bin/python)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import requires_shared_data, shared_data_dir

from benchmarks import prompting_lm_eval as ple
from benchmarks import zero_shot_gpt

ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = ROOT / "benchmarks" / "lm_eval_tasks"
LM_EVAL_PYTHON = os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python")
utils = zero_shot_gpt._task_utils()


# ----------------------------------------------------------------------------------------------------------------------
# Made-up sample logs: hf_models' samples_<task>_<K>shot.jsonl records and lm_eval's --log_samples rows
# ----------------------------------------------------------------------------------------------------------------------
def hf_choice(prompt: str, lls: list[float], gold: int, continuations=(" negative", " positive")) -> dict:
    pred = max(range(len(lls)), key=lls.__getitem__)
    return {"prompt": prompt, "continuations": list(continuations), "log_likelihoods": lls, "pred": pred,
            "gold": gold, "acc": float(pred == gold), "is_greedy": [False] * len(lls)}


def lm_choice(doc_id: int, prompt: str, lls: list[float], gold: int, continuations=(" negative", " positive")) -> dict:
    pred = max(range(len(lls)), key=lls.__getitem__)
    return {"doc_id": doc_id, "filter": "none",
            "arguments": {f"gen_args_{i}": {"arg_0": prompt, "arg_1": c} for i, c in enumerate(continuations)},
            "resps": [[[str(ll), "False"]] for ll in lls], "acc": float(pred == gold)}


def test_sst2_comparison_reports_a_differing_prediction():
    hf = [hf_choice("p0", [-1.0, -2.0], 0), hf_choice("p1", [-1.0, -0.5], 1), hf_choice("p2", [-3.0, -1.0], 1)]
    lm = [lm_choice(0, "p0", [-1.0, -2.0], 0), lm_choice(1, "p1", [-1.0, -1.5], 1),  # lm_eval picks option 0
          lm_choice(2, "p2", [-3.0, -1.0], 1)]
    result = ple.compare_task("sst2", hf, lm)
    assert result["prompts_identical"] == 3
    assert result["predictions_differ"] == 1
    assert result["differing_prediction_indices"] == [1]
    assert result["differing_predictions"][0]["hf_models"] == 1 and result["differing_predictions"][0]["lm_eval"] == 0
    acc = result["metrics"]["acc"]
    assert acc["hf_models"] == pytest.approx(1.0) and acc["lm_eval"] == pytest.approx(2 / 3)
    assert not acc["agree"] and acc["differing_indices"] == [1] and ple.agreement(acc) == "NO"
    assert result["max_abs_loglikelihood_difference"] == pytest.approx(1.0)
    # the same logs on both sides: nothing reported
    same = ple.compare_task("sst2", hf, [lm_choice(i, r["prompt"], r["log_likelihoods"], r["gold"])
                                         for i, r in enumerate(hf)])
    assert same["predictions_differ"] == 0 and same["metrics"]["acc"]["agree"]
    assert ple.agreement(same["metrics"]["acc"]) == "yes"


def test_comparison_reports_differing_prompts_and_continuations():
    hf = [hf_choice("Review: good\nAnswer:", [-1.0, -2.0], 0), hf_choice("p1", [-1.0, -2.0], 0)]
    lm = [lm_choice(0, "Review: good \nAnswer:", [-1.0, -2.0], 0),
          lm_choice(1, "p1", [-1.0, -2.0], 0, continuations=(" neg", " pos"))]
    result = ple.compare_task("sst2", hf, lm)
    assert result["prompts_identical"] == 0 and result["differing_prompt_indices"] == [0, 1]
    first = result["differing_prompts"][0]["problems"][0]
    assert first["what"] == "prompt" and first["position"] == len("Review: good")
    assert result["differing_prompts"][1]["problems"][0]["what"] == "continuations"
    assert result["predictions_differ"] == 0  # the answers may agree although the prompts do not


def test_comparison_rejects_logs_of_other_examples():
    with pytest.raises(RuntimeError, match="sst2"):
        ple.compare_task("sst2", [hf_choice("p0", [-1.0, -2.0], 0)], [lm_choice(3, "p0", [-1.0, -2.0], 0)])


def test_lambada_comparison_reports_a_differing_greedy_match():
    hf = [{"prompt": "ctx", "continuations": [" word"], "log_likelihoods": [-2.0], "is_greedy": [True], "acc": 1.0,
           "gold": " word"}]
    lm = [{"doc_id": 0, "filter": "none", "arguments": {"gen_args_0": {"arg_0": "ctx", "arg_1": " word"}},
           "resps": [[["-2.0001", "False"]]], "acc": 0.0}]
    result = ple.compare_task("lambada", hf, lm)
    assert result["prompts_identical"] == 1
    assert result["predictions_differ"] == 1 and result["differing_predictions"][0]["hf_models"] is True
    assert result["metrics"]["acc"]["verdicts_differ"] == 1


def gsm8k_rows(doc_id: int, prompt: str, generation: str, strict: tuple[str, float], flexible: tuple[str, float]):
    base = {"doc_id": doc_id, "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["Question:"]}}},
            "resps": [[generation]]}
    return [{**base, "filter": "strict-match", "filtered_resps": [strict[0]], "exact_match": strict[1]},
            {**base, "filter": "flexible-extract", "filtered_resps": [flexible[0]], "exact_match": flexible[1]}]


def test_gsm8k_comparison_scores_both_extractors_and_reports_differences():
    # 0: both right by both extractors; 1: the generations differ; 2: the same text, lm_eval's verdict differs
    hf = [{"prompt": "q0", "generation": " 2 + 3 = 5\n#### 5", "prediction": "5", "gold": "5"},
          {"prompt": "q1", "generation": " 4 * 2 = 8", "prediction": "8", "gold": "8"},
          {"prompt": "q2", "generation": " It costs $1,000.\n#### 1,000", "prediction": "1000", "gold": "1000"}]
    lm = (gsm8k_rows(0, "q0", " 2 + 3 = 5\n#### 5", ("5", 1.0), ("5", 1.0))
          + gsm8k_rows(1, "q1", " 4 * 2 = 9", ("[invalid]", 0.0), ("9", 0.0))
          + gsm8k_rows(2, "q2", " It costs $1,000.\n#### 1,000", ("[invalid]", 0.0), ("$1,000.", 0.0)))
    result = ple.compare_task("gsm8k", hf, lm)
    assert result["prompts_identical"] == 3
    assert result["differing_prediction_indices"] == [1]  # the generations
    strict, flexible = (result["metrics"][name] for name, *_ in ple.METRICS["gsm8k"])
    # hf_models' gsm8k_hash reads "#### 1,000" in example 2 as 1000; this (made-up) lm_eval verdict says invalid
    assert strict["hf_models"] == pytest.approx(2 / 3) and strict["lm_eval"] == pytest.approx(1 / 3)
    assert strict["differing_indices"] == [2] and strict["differing"][0]["hf_models_answer"] == "1000"
    assert flexible["hf_models"] == pytest.approx(1.0) and flexible["lm_eval"] == pytest.approx(1 / 3)
    assert flexible["differing_indices"] == [1, 2]
    assert flexible["differing"][1]["lm_eval_answer"] == "$1,000." and flexible["differing"][1]["gold"] == "1000"
    # the extracted answers, right or wrong: "1000" against "[invalid]"; "8" against "9" ("$1,000." is 1000)
    assert strict["differing_answer_indices"] == [2] and flexible["differing_answer_indices"] == [1]
    results = {"tasks": {"gsm8k": {"num_fewshot": 5, "examples_total": 1319, "subset": True, "comparison": result,
                                   "hf_models": {"wall_seconds": 3.0}, "lm_eval": {"wall_seconds": 2.0},
                                   "time_ratio": 1.5}}}
    rows = ple.markdown_table(results).splitlines()[2:]
    assert [row.split(" | ")[4:7] for row in rows] == [["NO", "1 (answers 1)", "1"], ["NO", "2 (answers 1)", "1"]]


def test_same_answer_applies_lm_evals_normalisation():
    assert ple.same_answer("1000", "$1,000.") and ple.same_answer("", "[invalid]") and ple.same_answer("3", "3.0")
    assert not ple.same_answer("", "54") and not ple.same_answer("5", "[invalid]") and not ple.same_answer("8", "9")


def test_markdown_table_shows_every_metric_and_the_time_ratio():
    hf = [hf_choice("p0", [-1.0, -2.0], 0)]
    comparison = ple.compare_task("sst2", hf, [lm_choice(0, "p0", [-1.0, -2.0], 0)])
    results = {"tasks": {"sst2": {"num_fewshot": 5, "examples_total": 872, "subset": True, "comparison": comparison,
                                  "hf_models": {"wall_seconds": 3.0}, "lm_eval": {"wall_seconds": 6.0},
                                  "time_ratio": 0.5}}}
    table = ple.markdown_table(results)
    assert "| sst2 (5-shot, 1 of 872) | acc | 1.0000 | 1.0000 | yes | 0 | 0 | 1/1 | 3.0 | 6.0 | 0.50 |" in table


# ----------------------------------------------------------------------------------------------------------------------
# Local files, task YAMLs, commands, resuming
# ----------------------------------------------------------------------------------------------------------------------
def test_local_files_are_read_as_the_hub_datasets(tmp_path):
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("sentence\tlabel\nit 's \"good\" . \t1\nbad \t0\n", encoding="utf-8")
    assert utils.read_sst2_tsv(tsv) == [{"sentence": "it 's \"good\" . ", "label": 1, "idx": 0},
                                        {"sentence": "bad ", "label": 0, "idx": 1}]  # quotes and spaces kept
    (tmp_path / "bad.tsv").write_text("sentence\tlabel\nfine\t1\nbroken\tx\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 3: label 'x'"):
        utils.read_sst2_tsv(tmp_path / "bad.tsv")
    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text(json.dumps({"question": "Q? ", "answer": "a\n#### 3"}) + "\n\n" + "{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test\.jsonl, line 3: not a JSON object"):
        utils.read_gsm8k_jsonl(jsonl)
    jsonl.write_text(json.dumps({"question": "Q? ", "answer": "a\n#### 3", "id": 1}) + "\n", encoding="utf-8")
    assert utils.read_gsm8k_jsonl(jsonl) == [{"question": "Q? ", "answer": "a\n#### 3"}]
    for name in ("train", "dev"):
        (tmp_path / f"{name}.tsv").write_text("sentence\tlabel\nbad \t0\n", encoding="utf-8")
    dataset = utils.load_sst2(data_dir="unused", sst2_dir=str(tmp_path))  # --metadata's key wins
    assert sorted(dataset) == ["train", "validation"] and dataset["validation"][0]["sentence"] == "bad "


def test_task_yamls_are_lm_evals_tasks_on_local_files():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    sst2 = yaml.load((TASKS_DIR / "sst2_local.yaml").read_text(), Loader=Loader)
    assert sst2["doc_to_text"] == "{{sentence}}\nQuestion: Is this sentence positive or negative?\nAnswer:"
    assert sst2["doc_to_choice"] == ["negative", "positive"] and sst2["fewshot_split"] == "train"
    upstream = yaml.load((TASKS_DIR / "sst2_local_upstream.yaml").read_text(), Loader=Loader)
    assert "fewshot_split" not in upstream and upstream["doc_to_text"] == sst2["doc_to_text"]
    gsm8k = yaml.load((TASKS_DIR / "gsm8k_local.yaml").read_text(), Loader=Loader)
    assert gsm8k["doc_to_text"] == "Question: {{question}}\nAnswer:" and gsm8k["num_fewshot"] == 5
    assert gsm8k["generation_kwargs"]["until"] == ["Question:", "</s>", "<|im_end|>"]
    assert [f["name"] for f in gsm8k["filter_list"]] == ["strict-match", "flexible-extract"]
    for config in (sst2, upstream, gsm8k):
        assert hasattr(utils, config["custom_dataset"].split(".")[1])
    from hf_models.prompting import get_task

    # hf_models' built-in tasks ask the same things
    assert get_task("sst2").template.text == sst2["doc_to_text"].replace("{{sentence}}", "{sentence}")
    assert get_task("gsm8k").template.text == gsm8k["doc_to_text"].replace("{{question}}", "{question}")
    assert list(get_task("gsm8k").stop) == gsm8k["generation_kwargs"]["until"]


def test_commands_ask_both_sides_for_the_same_settings(tmp_path):
    args = ple.build_parser().parse_args(["--limit", "7", "--gsm8k_limit", "3", "--batch_size", "2",
                                          "--max_new_tokens", "16", "--device", "cpu"])
    hf = ple.hf_models_command(args, "gsm8k", tmp_path, overwrite=False)
    lm = ple.lm_eval_command(args, "gsm8k", str(tmp_path))

    def value(cmd, flag):
        return cmd[cmd.index(flag) + 1]

    assert value(hf, "--limit") == value(lm, "--limit") == "3"
    assert value(hf, "--num_fewshot") == value(lm, "--num_fewshot") == "5"
    assert value(hf, "--batch_size") == value(lm, "--batch_size") == "2"
    assert value(hf, "--max_new_tokens") == "16" and value(lm, "--gen_kwargs") == "max_gen_toks=16"
    assert value(lm, "--seed").split(",")[3] == value(hf, "--seed") == "1234"
    assert value(lm, "--tasks") == "gsm8k_local" and "--metadata" not in lm  # the default data folder
    assert value(ple.lm_eval_command(args, "sst2", "out"), "--limit") == "7"
    other = ple.build_parser().parse_args(["--data_dir", str(tmp_path)])
    assert json.loads(value(ple.lm_eval_command(other, "sst2", "out"), "--metadata")) == {
        "sst2_dir": str((tmp_path / "glue/SST-2").resolve())}


def test_a_cut_run_continues_from_the_finished_sides(tmp_path, monkeypatch):
    """A side whose entry is in the work folder is not run again; the comparison reads the saved logs."""
    args = ple.build_parser().parse_args(["--work_dir", str(tmp_path), "--sst2_limit", "1", "--threads", "1"])
    work = ple.work_folder(args, "sst2")
    assert json.loads((work / "settings.json").read_text())["limit"] == 1
    assert ple.work_folder(args, "sst2") == work  # the same settings, the same folder
    (work / "hf_models").mkdir()
    (work / "hf_models" / "samples_sst2_5shot.jsonl").write_text(json.dumps(hf_choice("p0", [-1.0, -2.0], 0)) + "\n")
    (work / "lm_eval_samples.jsonl").write_text(json.dumps(lm_choice(0, "p0", [-1.0, -2.0], 0)) + "\n")
    (work / "hf_models.json").write_text(json.dumps({"wall_seconds": 2.0, "evaluation_seconds": 1.0, "threads": 1,
                                                     "examples_total": 872,
                                                     "samples_file": "hf_models/samples_sst2_5shot.jsonl"}))
    (work / "lm_eval.json").write_text(json.dumps({"wall_seconds": 4.0, "evaluation_seconds": 3.0, "threads": 1,
                                                   "samples_file": "lm_eval_samples.jsonl"}))

    def no_run(cmd, env):
        raise AssertionError(f"ran {cmd}")

    monkeypatch.setattr(ple, "_run", no_run)
    entry = ple.run_task(args, "sst2", work)
    assert entry["hf_models"]["reused"] and entry["lm_eval"]["reused"]
    assert entry["subset"] and entry["time_ratio"] == pytest.approx(0.5)
    assert entry["comparison"]["metrics"]["acc"]["agree"]
    other = ple.build_parser().parse_args(["--work_dir", str(tmp_path), "--sst2_limit", "2"])
    assert ple.work_folder(other, "sst2") != work  # other settings start their own folder


def test_help():
    proc = subprocess.run([sys.executable, "benchmarks/prompting_lm_eval.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--sst2_num_fewshot", "--gsm8k_num_fewshot", "--limit", "--threads", "--work_dir", "--batch_size"):
        assert flag in proc.stdout


# ----------------------------------------------------------------------------------------------------------------------
# Against lm_eval's own prompt construction (a Python with lm-evaluation-harness, its `dummy` model)
# ----------------------------------------------------------------------------------------------------------------------
def lm_eval_prompts(tmp_path: Path, tasks: list[str], num_fewshot: int, limit: int) -> dict[str, list[str]]:
    """{task: the context lm_eval builds for each of the first `limit` docs}, from `lm_eval --model dummy
    --log_samples` (no model is run: the dummy answers at random)."""
    cmd = [LM_EVAL_PYTHON, "-m", "lm_eval", "--model", "dummy", "--tasks", ",".join(tasks), "--include_path",
           str(TASKS_DIR), "--num_fewshot", str(num_fewshot), "--limit", str(limit), "--log_samples",
           "--output_path", str(tmp_path / "out"), "--seed", "0,1234,1234,1234"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prompts = {}
    for task in tasks:
        (path,) = (tmp_path / "out").rglob(f"samples_{task}_2*.jsonl")
        rows = ple.lm_eval_by_doc(ple.read_jsonl(path))
        prompts[task] = [ple.lm_eval_requests(next(iter(rows[i].values())))[0][0] for i in range(limit)]
    return prompts


@pytest.mark.slow
@requires_shared_data
@pytest.mark.skipif(not os.path.exists(LM_EVAL_PYTHON), reason=f"no Python with lm_eval at {LM_EVAL_PYTHON} "
                                                               "(set LM_EVAL_PYTHON)")
def test_local_tasks_give_hf_models_prompts(tmp_path):
    from hf_models.prompting import build_prompts, get_task

    limit, shots = 4, 3
    theirs = lm_eval_prompts(tmp_path, ["sst2_local", "sst2_local_upstream", "gsm8k_local"], shots, limit)
    data = shared_data_dir()
    ours = {}
    for name in ("sst2", "gsm8k"):
        task = get_task(name)
        examples, pool = task.read(data)[:limit], task.read(data, "pool")
        ours[name] = [p.text for p in build_prompts(examples, task.template, shots, pool, 1234)]
    assert theirs["sst2_local"] == ours["sst2"]
    assert theirs["gsm8k_local"] == ours["gsm8k"]
    assert ours["sst2"][0].count("\nAnswer: ") == shots and ours["gsm8k"][0].count("\n#### ") == shots
    # lm_eval's upstream sst2 (no fewshot_split) draws K + 1 per query: the same first prompt, then others
    upstream = theirs["sst2_local_upstream"]
    assert upstream[0] == ours["sst2"][0] and all(a != b for a, b in zip(upstream[1:], ours["sst2"][1:]))
    lambada = lm_eval_prompts(tmp_path / "lambada", ["lambada_openai_local"], 0, limit)["lambada_openai_local"]
    task = get_task("lambada")
    assert lambada == [p.text for p in build_prompts(task.read(data)[:limit], task.template, 0)]
