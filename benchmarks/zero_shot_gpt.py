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

A cut run continues: run the same command again. `--work_dir` (runs/zero_shot) holds one folder per settings (the
models, files, limits, max_length, batch sizes, dtype and slices: `settings.json` there). hf_models' run scores
`--lambada_slice` passages / `--wikitext_slice` documents at a time and saves each slice there; lm_eval keeps its
answers in a `--use_cache` database there, and each finished (run, task) is saved and not run again. `--runs` and
`--tasks` pick what this invocation runs; the results of a settings folder accumulate across invocations.

    python benchmarks/zero_shot_gpt.py --lambada_limit 100 --wikitext_limit 3
    python benchmarks/zero_shot_gpt.py                      # the whole test sets (5153 passages, 62 documents)
    python benchmarks/zero_shot_gpt.py --tasks wikitext --runs hf_models lm_eval_llama   # a part of it
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
def run_hf_models(args, tasks: Sequence[str], work: Path | None = None) -> dict:
    """hf_models.GPTForCausalLM on the hf_gpt folder, scored by hf_models' own code. With `work` (the resumable work
    folder of these settings), the examples are scored in slices of --lambada_slice passages / --wikitext_slice
    documents, each saved there when done and reused by a later invocation: a cut run continues."""
    from transformers import AutoTokenizer

    import hf_models
    from hf_models.tasks.causal_lm import (
        document_scores,
        lm_eval_prefix_token_id,
        perplexity_of,
        read_documents,
        score_documents,
        score_lambada,
    )

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

        def score(chunk):
            scores = score_lambada(model, tokenizer, chunk, args.max_length, args.lambada_batch_size)
            return [[s["log_likelihood"], bool(s["is_greedy"])] for s in scores["per_example"]]

        per_example, seconds, reused = _in_slices("lambada", passages, args.lambada_slice, score, work)
        log_likelihoods = [ll for ll, _ in per_example]
        result["tasks"]["lambada"] = {
            "examples": len(per_example), "acc": sum(greedy for _, greedy in per_example) / len(per_example),
            "perplexity": perplexity_of(-sum(log_likelihoods) / len(log_likelihoods)),
            "seconds": seconds, "slices_reused": reused, "per_example": per_example,
        }
        entry = result["tasks"]["lambada"]
        print(f"hf_models lambada: acc {entry['acc']:.4f} ppl {entry['perplexity']:.4f} "
              f"({entry['examples']} passages, {seconds:.0f} s)", flush=True)
    if "wikitext" in tasks:
        # lm_eval's wikitext protocol: documents as EleutherAI/wikitext_document_level, the task's detokenizer,
        # lm_eval's tok_encode, each document scored whole by rolling windows after the prefix token
        pages = read_documents(args.wikitext_file, "wikitext", args.wikitext_limit)

        def score(chunk):
            scores = score_documents(model, tokenizer, chunk, args.max_length, "wikitext", args.wikitext_batch_size)
            return [[s["loglikelihood"], s["tokens"], s["windows"]] for s in scores["per_example"]]

        per_doc, seconds, reused = _in_slices("wikitext", pages, args.wikitext_slice, score, work)
        metrics = document_scores([ll for ll, _, _ in per_doc], pages)
        tokens = sum(n for _, n, _ in per_doc)
        result["tasks"]["wikitext"] = {"documents": len(pages), **metrics, "tokens": tokens,
                                       "windows": sum(w for _, _, w in per_doc),
                                       "prefix_token_id": lm_eval_prefix_token_id(tokenizer), "seconds": seconds,
                                       "slices_reused": reused, "per_example": [ll for ll, _, _ in per_doc]}
        print(f"hf_models wikitext: word ppl {metrics['word_perplexity']:.4f} byte ppl "
              f"{metrics['byte_perplexity']:.5f} bpb {metrics['bits_per_byte']:.5f} ({len(pages)} documents, "
              f"{tokens} tokens, {seconds:.0f} s)", flush=True)
    return result


def _in_slices(task: str, examples: Sequence, size: int, score, work: Path | None) -> tuple[list, float, int]:
    """score(examples[i:i + size]) for each slice, in order: (the per-example results joined, the seconds spent
    scoring them, summed over the invocations that did, how many slices an earlier invocation had done). A slice's
    results are written whole (a temporary file renamed) to work/hf_models/<task>/<first>-<last>.json and read back
    instead of scored again."""
    results, seconds, reused = [], 0.0, 0
    folder = work / "hf_models" / task if work is not None else None
    for start in range(0, len(examples), size):
        chunk = examples[start: start + size]
        part = folder / f"{start:05d}-{start + len(chunk) - 1:05d}.json" if folder is not None else None
        if part is not None and part.is_file():
            saved = json.loads(part.read_text())
            reused += 1
        else:
            began = time.perf_counter()
            saved = {"per_example": score(chunk), "seconds": time.perf_counter() - began}
            if part is not None:
                _write_json(part, saved)
                print(f"hf_models {task}: {start + len(chunk)}/{len(examples)} scored", flush=True)
        if len(saved["per_example"]) != len(chunk):
            raise RuntimeError(f"{part}: {len(saved['per_example'])} results for {len(chunk)} examples")
        results += saved["per_example"]
        seconds += saved["seconds"]
    return results, seconds, reused


def _write_json(path: Path, data) -> None:
    """The file whole or not at all: written beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def lm_eval_command(args, task: str, pretrained: str, remote_code: bool, output_path: str,
                    cache: Path | None = None) -> list[str]:
    """The lm_eval command line of one task on one checkpoint (relative to the repository root). `cache`: lm_eval's
    --use_cache database (each answer is committed as it is computed, so a cut run continues from it)."""
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
    if cache is not None:
        cmd += ["--use_cache", str(cache)]
    return cmd


def run_lm_eval(args, name: str, tasks: Sequence[str], work: Path | None = None) -> dict:
    """lm_eval's HF model on the Llama folder (transformers' class) or the hf_gpt folder (hf_models' class). With
    `work` (the resumable work folder of these settings), lm_eval keeps its answers in a --use_cache database there
    and each finished task's entry is saved there: a cut run continues, a finished task is not run again."""
    pretrained, remote_code = (args.llama_model, False) if name == "lm_eval_llama" else (args.hf_gpt_model, True)
    result = {"model": pretrained, "tasks": {}}
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    for task in tasks:
        done = work / name / f"{task}.json" if work is not None else None
        if done is not None and done.is_file():
            result["tasks"][task] = {**json.loads(done.read_text()), "reused": True}
            print(f"{name} {task}: done earlier ({done})", flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix="zero_shot_lm_eval_") as out:
            cache = None
            if work is not None:
                (work / name).mkdir(parents=True, exist_ok=True)
                cache = (work / name / f"lm_eval_cache_{task}").resolve()
            cmd = lm_eval_command(args, task, pretrained, remote_code, out, cache)
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
        shown = cmd[:cmd.index("--output_path")] + cmd[cmd.index("--log_samples") + 1:]
        if "--use_cache" in shown:
            shown = shown[:shown.index("--use_cache")] + shown[shown.index("--use_cache") + 2:]
        entry = {"command": _tidy(shlex.join(shown)),
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
        if done is not None:
            _write_json(done, entry)
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


FINGERPRINTED = ("hf_gpt_model", "llama_model", "lambada_file", "wikitext_file", "lambada_limit", "wikitext_limit",
                 "max_length", "lambada_batch_size", "wikitext_batch_size", "dtype", "lambada_slice", "wikitext_slice")


def work_folder(args) -> Path:
    """work_dir/<hash of the settings that change a score>: settings.json records them. Device and threads are not
    among them (a run cut on a CPU may be finished on a GPU; the scores agree to float rounding)."""
    import hashlib

    settings = {key: str(Path(v).resolve()) if key.endswith(("_model", "_file")) else v
                for key, v in vars(args).items() if key in FINGERPRINTED}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(args.work_dir).resolve() / digest
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "settings.json").is_file():
        _write_json(folder / "settings.json", settings)
    return folder


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
    parser.add_argument("--work_dir", default=str(ROOT / "runs" / "zero_shot"),
                        help="where finished slices and lm_eval's answers are kept, so that a cut run continues "
                             "(one subfolder per settings)")
    parser.add_argument("--no_resume", action="store_true", help="keep nothing: score everything in this invocation")
    parser.add_argument("--lambada_slice", type=int, default=256, help="passages scored (and saved) at a time")
    parser.add_argument("--wikitext_slice", type=int, default=4, help="documents scored (and saved) at a time")
    args = parser.parse_args(argv)
    for name in ("lambada_limit", "wikitext_limit", "lambada_slice", "wikitext_slice"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    work = None if args.no_resume else work_folder(args)

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
    if work is not None:
        results["work_dir"] = _tidy(str(work))
    for name in args.runs:
        results["runs"][name] = run_hf_models(args, args.tasks, work) if name == "hf_models" else \
            run_lm_eval(args, name, args.tasks, work)
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
