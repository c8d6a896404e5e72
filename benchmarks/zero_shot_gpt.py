"""Zero-shot LAMBADA and WikiText-2 with hf_models' own evaluation code, and with lm-evaluation-harness (issue 15).

The same causal LM (default: SmolLM2-135M-Instruct, real weights) is scored three ways on the same documents:

1. `hf_models`: `hf_models.GPTForCausalLM` (the hf_gpt folder) through hf_models' evaluation code: LAMBADA by
   `hf_models.tasks.causal_lm.score_lambada` (lm_eval's lambada_openai protocol: context = the passage without its
   last word, target = " " + last word; accuracy = greedy decoding gives every target token; perplexity =
   exp(-mean log p(target | context))), WikiText-2 by `score_documents` there (lm_eval's wikitext protocol:
   documents as EleutherAI/wikitext_document_level, the task's detokenizer, each document scored whole by disjoint
   windows of max_length tokens, the first one after a prefix token; word perplexity = exp(-sum ll / sum words),
   byte perplexity = exp(-sum ll / sum bytes), bits per byte = -sum ll / (sum bytes ln 2), words and bytes of the
   original, tokenized page);
2. `lm_eval_llama`: `python -m lm_eval --model hf` on transformers' `LlamaForCausalLM` (the Llama folder), with the
   local tasks of `benchmarks/lm_eval_tasks` (`lambada_openai_local`, `wikitext_local`: lm_eval's lambada_openai and
   wikitext on files on disk);
3. `lm_eval_hf_gpt`: the same lm_eval command on the hf_gpt folder (`trust_remote_code=True`), i.e. lm_eval driving
   hf_models' class.

Per document, the log-likelihoods of the runs are compared (lm_eval's --log_samples), and the metrics' differences
are reported. Without a GPU, a run of the whole test sets takes hours on two cores: `--lambada_limit` and
`--wikitext_limit` take the first N passages / documents in every run (lm_eval's `--limit`), recorded as a subset.

    python benchmarks/zero_shot_gpt.py --lambada_limit 100 --wikitext_limit 3
    python benchmarks/zero_shot_gpt.py                      # the whole test sets (5153 passages, 62 documents)
    python benchmarks/zero_shot_gpt.py --hf_gpt_model DIR --llama_model DIR2   # another model (same weights twice)

Writes benchmarks/results/zero_shot_gpt.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = ROOT / "benchmarks" / "lm_eval_tasks"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RUNS = ("hf_models", "lm_eval_llama", "lm_eval_hf_gpt")
TASKS = ("lambada", "wikitext")
LM_EVAL_TASK = {"lambada": "lambada_openai_local", "wikitext": "wikitext_local"}


def _task_utils():
    """benchmarks/lm_eval_tasks/utils.py (the local tasks' data and metric code), imported by path."""
    name = "_zero_shot_lm_eval_task_utils"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TASKS_DIR / "utils.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# ----------------------------------------------------------------------------------------------------------------------
# The runs
# ----------------------------------------------------------------------------------------------------------------------
def run_hf_models(args, tasks: Sequence[str]) -> dict:
    """hf_models.GPTForCausalLM on the hf_gpt folder, scored by hf_models' own code."""
    from transformers import AutoTokenizer

    import hf_models
    from hf_models.tasks.causal_lm import read_documents, score_documents, score_lambada

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = hf_models.GPTForCausalLM.from_pretrained(args.hf_gpt_model, dtype=getattr(torch, args.dtype))
    model.to(args.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.hf_gpt_model)
    result = {"class": f"{type(model).__module__}.{type(model).__name__}", "model": args.hf_gpt_model,
              "load_seconds": time.perf_counter() - started, "tasks": {}}
    utils = _task_utils()
    if "lambada" in tasks:
        passages = [r["text"] for r in utils.read_lambada_jsonl(args.lambada_file)][: args.lambada_limit]
        started = time.perf_counter()
        scores = score_lambada(model, tokenizer, passages, args.max_length, args.lambada_batch_size)
        result["tasks"]["lambada"] = {
            "examples": scores["examples"], "acc": scores["accuracy"], "perplexity": scores["perplexity"],
            "seconds": time.perf_counter() - started,
            "per_example": [[s["log_likelihood"], bool(s["is_greedy"])] for s in scores["per_example"]],
        }
        print(f"hf_models lambada: acc {scores['accuracy']:.4f} ppl {scores['perplexity']:.4f} "
              f"({scores['examples']} passages, {result['tasks']['lambada']['seconds']:.0f} s)", flush=True)
    if "wikitext" in tasks:
        # lm_eval's wikitext protocol: documents as EleutherAI/wikitext_document_level, the task's detokenizer,
        # lm_eval's tok_encode, each document scored whole by rolling windows after the prefix token
        pages = read_documents(args.wikitext_file, "wikitext", args.wikitext_limit)
        started = time.perf_counter()
        scores = score_documents(model, tokenizer, pages, args.max_length, "wikitext", args.wikitext_batch_size)
        metrics = {k: scores[k] for k in ("word_perplexity", "byte_perplexity", "bits_per_byte", "loglikelihood",
                                          "words", "bytes")}
        tokens, docs = scores["tokens"], pages
        result["tasks"]["wikitext"] = {"documents": scores["documents"], **metrics, "tokens": tokens,
                                       "windows": scores["windows"], "prefix_token_id": scores["prefix_token_id"],
                                       "seconds": time.perf_counter() - started,
                                       "per_example": [s["loglikelihood"] for s in scores["per_example"]]}
        print(f"hf_models wikitext: word ppl {metrics['word_perplexity']:.4f} byte ppl "
              f"{metrics['byte_perplexity']:.5f} bpb {metrics['bits_per_byte']:.5f} ({len(docs)} documents, "
              f"{tokens} tokens, {result['tasks']['wikitext']['seconds']:.0f} s)", flush=True)
    return result


def lm_eval_command(args, task: str, pretrained: str, remote_code: bool, output_path: str) -> list[str]:
    """The lm_eval command line of one task on one checkpoint (relative to the repository root)."""
    model_args = f"pretrained={pretrained},dtype={args.dtype},max_length={args.max_length}"
    if remote_code:
        model_args += ",trust_remote_code=True"
    limit = args.lambada_limit if task == "lambada" else args.wikitext_limit
    batch = args.lambada_batch_size if task == "lambada" else args.wikitext_batch_size
    cmd = [args.lm_eval_python, "-m", "lm_eval", "--model", "hf", "--model_args", model_args,
           "--tasks", LM_EVAL_TASK[task], "--include_path", str(TASKS_DIR.relative_to(ROOT)),
           "--device", args.device, "--batch_size", str(batch), "--output_path", output_path, "--log_samples"]
    metadata = {}
    if Path(args.lambada_file).resolve() != (DEFAULT_DATA / "lambada" / "lambada_test.jsonl").resolve():
        metadata["lambada_file"] = str(Path(args.lambada_file).resolve())
    if Path(args.wikitext_file).resolve() != (DEFAULT_DATA / "wikitext2" / "test.txt").resolve():
        metadata["wikitext_file"] = str(Path(args.wikitext_file).resolve())
    if metadata:
        cmd += ["--metadata", json.dumps(metadata)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd


def run_lm_eval(args, name: str, tasks: Sequence[str]) -> dict:
    """lm_eval's HF model on the Llama folder (transformers' class) or the hf_gpt folder (hf_models' class)."""
    pretrained, remote_code = (args.llama_model, False) if name == "lm_eval_llama" else (args.hf_gpt_model, True)
    result = {"model": pretrained, "tasks": {}}
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    for task in tasks:
        with tempfile.TemporaryDirectory(prefix="zero_shot_lm_eval_") as out:
            cmd = lm_eval_command(args, task, pretrained, remote_code, out)
            started = time.perf_counter()
            proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            results_file = max(Path(out).rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
            samples_file = max(Path(out).rglob(f"samples_{LM_EVAL_TASK[task]}_*.jsonl"),
                               key=lambda p: p.stat().st_mtime)
            report = json.loads(results_file.read_text())
            samples = sorted((json.loads(line) for line in samples_file.read_text().splitlines() if line.strip()),
                             key=lambda s: s["doc_id"])
        metrics = report["results"][LM_EVAL_TASK[task]]
        entry = {"command": _tidy(shlex.join(cmd[:cmd.index("--output_path")] + cmd[cmd.index("--log_samples") + 1:])),
                 "wall_seconds": wall, "evaluation_seconds": float(report.get("total_evaluation_time_seconds", "nan")),
                 "examples": len(samples), "lm_eval_version": report.get("lm_eval_version")}
        if task == "lambada":
            entry.update(acc=metrics["acc,none"], perplexity=metrics["perplexity,none"],
                         per_example=[[float(s["resps"][0][0][0]), bool(s["acc"])] for s in samples])  # resps: strings
            print(f"{name} lambada: acc {entry['acc']:.4f} ppl {entry['perplexity']:.4f} ({len(samples)} passages, "
                  f"{wall:.0f} s)", flush=True)
        else:
            entry.update(word_perplexity=metrics["word_perplexity,none"],
                         byte_perplexity=metrics["byte_perplexity,none"], bits_per_byte=metrics["bits_per_byte,none"],
                         documents=len(samples), per_example=[float(s["word_perplexity"][0]) for s in samples])
            print(f"{name} wikitext: word ppl {entry['word_perplexity']:.4f} byte ppl "
                  f"{entry['byte_perplexity']:.5f} bpb {entry['bits_per_byte']:.5f} ({len(samples)} documents, "
                  f"{wall:.0f} s)", flush=True)
        result["tasks"][task] = entry
    return result


def _tidy(text: str) -> str:
    shared = str(DEFAULT_DATA.parent.resolve()) + "/"
    return text.replace(sys.executable, "python").replace(shared, "../shared/").replace(str(ROOT) + "/", "")


# ----------------------------------------------------------------------------------------------------------------------
# Comparison and report
# ----------------------------------------------------------------------------------------------------------------------
def compare(results: dict, tasks: Sequence[str]) -> dict:
    """Per task, every pair of runs: metric differences, the largest per-document log-likelihood difference, and
    LAMBADA passages whose greedy verdict differs."""
    comparison = {}
    for task in tasks:
        runs = [name for name in RUNS if task in results["runs"].get(name, {}).get("tasks", {})]
        for i, first in enumerate(runs):
            for other in runs[i + 1:]:
                _compare_pair(comparison, results, task, first, other)
    return comparison


def _compare_pair(comparison: dict, results: dict, task: str, first: str, other: str) -> None:
    """comparison["<task>: <other> - <first>"] = the differences of two runs on one task."""
    base, entry = results["runs"][first]["tasks"][task], results["runs"][other]["tasks"][task]
    metrics = ("acc", "perplexity") if task == "lambada" else ("word_perplexity", "byte_perplexity", "bits_per_byte")
    a, b = base["per_example"], entry["per_example"]
    if len(a) != len(b):
        raise RuntimeError(f"{task}: {first} scored {len(a)} examples, {other} {len(b)}")
    ll_a = [x[0] if task == "lambada" else x for x in a]
    ll_b = [x[0] if task == "lambada" else x for x in b]
    diff = {f"{m}_difference": entry[m] - base[m] for m in metrics}
    diff["max_abs_loglikelihood_difference"] = max(abs(x - y) for x, y in zip(ll_a, ll_b))
    diff["max_rel_loglikelihood_difference"] = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(ll_a, ll_b))
    if task == "lambada":
        diff["greedy_disagreements"] = sum(x[1] != y[1] for x, y in zip(a, b))
    comparison[f"{task}: {other} - {first}"] = diff


def markdown_table(results: dict) -> str:
    rows = [("| run | class | LAMBADA acc | LAMBADA ppl | WikiText-2 word ppl | byte ppl | bits/byte | seconds "
             "(LAMBADA, WikiText) |"), "|---|---|---|---|---|---|---|---|"]
    for name in RUNS:
        run = results["runs"].get(name)
        if not run:
            continue
        lam, wiki = run["tasks"].get("lambada", {}), run["tasks"].get("wikitext", {})
        cls = {"hf_models": "hf_models GPTForCausalLM, hf_models' code", "lm_eval_llama":
               "transformers LlamaForCausalLM, lm_eval", "lm_eval_hf_gpt": "hf_models GPTForCausalLM, lm_eval"}[name]

        def fmt(entry, key, digits):
            return f"{entry[key]:.{digits}f}" if key in entry else "-"

        secs = ", ".join(f"{e.get('seconds', e.get('wall_seconds', float('nan'))):.0f}" if e else "-"
                         for e in (lam, wiki))
        rows.append(f"| {name} | {cls} | {fmt(lam, 'acc', 4)} | {fmt(lam, 'perplexity', 3)} | "
                    f"{fmt(wiki, 'word_perplexity', 3)} | {fmt(wiki, 'byte_perplexity', 5)} | "
                    f"{fmt(wiki, 'bits_per_byte', 5)} | {secs} |")
    return "\n".join(rows)


def versions() -> dict:
    import transformers

    out = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        out["hf_models_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=ROOT, capture_output=True,
                                                 text=True).stdout.strip()
    except OSError:
        pass
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hf_gpt_model", default="/tmp/smollm2_hf_gpt", help="hf_models-format folder (hf_gpt)")
    parser.add_argument("--llama_model", default="/tmp/smollm2_llama",
                        help="the same weights in transformers' format (lm_eval_llama)")
    parser.add_argument("--lambada_file", default=str(DEFAULT_DATA / "lambada" / "lambada_test.jsonl"))
    parser.add_argument("--wikitext_file", default=str(DEFAULT_DATA / "wikitext2" / "test.txt"))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--lambada_limit", type=int, default=None, help="first N passages only (lm_eval --limit)")
    parser.add_argument("--wikitext_limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--max_length", type=int, default=2048, help="tokens per window, the same in every run")
    parser.add_argument("--lambada_batch_size", type=int, default=8)
    parser.add_argument("--wikitext_batch_size", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every run (default: torch's)")
    parser.add_argument("--lm_eval_python", default=os.environ.get("LM_EVAL_PYTHON", "/tmp/lmeval/bin/python"),
                        help="a Python with lm-evaluation-harness installed (and hf_models importable)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "zero_shot_gpt.json"))
    args = parser.parse_args(argv)
    for name in ("lambada_limit", "wikitext_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    results = {
        "description": "Zero-shot LAMBADA (lambada_openai) and WikiText-2 (wikitext, document-level rolling "
                       "loglikelihood) of one causal LM: hf_models' own evaluation code vs lm-evaluation-harness",
        "command": _tidy(shlex.join([sys.executable, "benchmarks/zero_shot_gpt.py"] + list(argv or sys.argv[1:]))),
        "settings": {"max_length": args.max_length, "lambada_batch_size": args.lambada_batch_size,
                     "wikitext_batch_size": args.wikitext_batch_size, "dtype": args.dtype, "device": args.device,
                     "threads": args.threads or torch.get_num_threads(),
                     "lambada_file": _tidy(str(Path(args.lambada_file).resolve())),
                     "wikitext_file": _tidy(str(Path(args.wikitext_file).resolve())),
                     "lambada_limit": args.lambada_limit, "wikitext_limit": args.wikitext_limit,
                     "subset": args.lambada_limit is not None or args.wikitext_limit is not None},
        "versions": versions(),
        "runs": {},
    }
    for name in args.runs:
        results["runs"][name] = run_hf_models(args, args.tasks) if name == "hf_models" else \
            run_lm_eval(args, name, args.tasks)
    results["comparison"] = compare(results, args.tasks)
    table = markdown_table(results)
    results["table"] = table
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    print(table)
    for key, diff in results["comparison"].items():
        print(f"{key}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in diff.items()))
    return results


if __name__ == "__main__":
    main()
