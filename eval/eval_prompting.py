#!/usr/bin/env python
"""In-context learning and chain-of-thought prompting of any causal LM (`hf_models.prompting`): zero-, one- and
few-shot prompts as GPT-3 and lm-evaluation-harness build them, answered by ranking the options by log-likelihood or
by generation with answer extraction; few-shot chain of thought with Wei et al.'s exemplars, Kojima et al.'s
zero-shot "Let's think step by step" and self-consistency. Accuracy with a 95% Wilson interval per task and number of
shots.

A curve of accuracy against the number of shots on SST-2 (the task's prompt and verbalizers, demonstrations from its
train split, drawn with --seed), with a plot and a Markdown table:

    python eval/eval_prompting.py --model_name_or_path /tmp/smollm2-135m --task sst2 rte \
        --num_fewshot 0 1 2 4 8 16 32 --limit 200 --output_dir /tmp/smollm2-icl

Few-shot chain of thought on GSM8K (Wei et al.'s eight exemplars), zero-shot CoT (Kojima et al.'s two stages) and
self-consistency (10 sampled chains, majority vote):

    python eval/eval_prompting.py --model_name_or_path PATH --task gsm8k --mode cot_fewshot --limit 100 \
        --max_new_tokens 256 --output_dir /tmp/gsm8k-cot
    python eval/eval_prompting.py --model_name_or_path PATH --task multiarith --mode cot_zeroshot --output_dir /tmp/ma
    python eval/eval_prompting.py --model_name_or_path PATH --task gsm8k --mode self_consistency --num_samples 10 \
        --limit 50 --output_dir /tmp/gsm8k-sc

A user's file (json list, jsonl or tsv with a header): the template's {fields} come from it, the gold from
--answer_field, the options (ranked by log-likelihood) from --options_field or --options ("\\n" and "\\t" in
--template are newlines and tabs):

    python eval/eval_prompting.py --model_name_or_path PATH --data_file quiz.jsonl \
        --template "Question: {question}\\nAnswer:" --answer_field answer --options_field choices \
        --num_fewshot 0 4 --output_dir /tmp/quiz

Tasks (`--task`): sst2, rte, lambada, gsm8k, multiarith, addsub, singleeq, aqua, commonsenseqa, strategyqa, date,
coin_flip, last_letters, read from --data_dir (default ../shared/data); `--data_file` evaluates a task on another copy
of its file (e.g. the package's hf_models/data/sst2_dev.tsv). Models: any causal LM folder or hub name (hf_models'
GPT, transformers' Llama such as SmolLM2, hf_models' LSTM LM and n-gram LM folders; an n-gram folder's vocabulary
becomes its word-level tokenizer).

The output folder holds results.json (per task and number of shots: accuracy and its interval, n, the settings,
whether --limit shortened the data, the wall time), samples_<task>_<K>shot.jsonl (every prompt, the option scores or
raw generations, the extracted answer, the gold, correct), a row per result in results.md and, for several
--num_fewshot values, accuracy_vs_shots.png and accuracy_vs_shots.md. A rerun with the same settings skips the
finished (task, shots) pairs; other settings are refused unless --overwrite_output_dir.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hf_models import cli_utils
from hf_models.cli_utils import (
    InputError,
    OutputArguments,
    append_results_row,
    input_paths,
    parse_args,
    prepare_output_dir,
    releases_output_dirs,
    results_table_path,
    run_main,
    setup_cli_logging,
    write_json,
)
from hf_models.file_utils import atomic_write
from hf_models.trainer_utils import ModelArguments

logger = logging.getLogger("hf_models.eval_prompting")

MODES = ("loglikelihood", "generate", "cot_fewshot", "fewshot_standard", "cot_zeroshot", "self_consistency")
RESULTS_FILE = "results.json"
CURVE_NAME = "accuracy_vs_shots"
COMMAND = "eval_prompting"
# the arguments that do not change the results: a rerun may change them and still resume
NOT_SETTINGS = {"task", "num_fewshot", "batch_size", "device", "output_dir", "overwrite_output_dir", "results_table",
                "log_level", "disable_tqdm", "cache_dir", "token"}


@dataclass
class PromptingArguments:
    """What to evaluate, and how it is prompted and answered."""

    task: list[str] | None = field(
        default=None,
        metadata={"help": "Built-in task(s) of hf_models.prompting.TASKS: sst2, rte, lambada, gsm8k, multiarith, "
                          "addsub, singleeq, aqua, commonsenseqa, strategyqa, date, coin_flip, last_letters. Leave "
                          "out to evaluate a --data_file with --template.", "nargs": "+"},
    )
    data_dir: str = field(
        default="../shared/data", metadata={"help": "Folder the built-in tasks read their files from."}
    )
    data_file: str | None = field(
        default=None,
        metadata={"help": "With one --task: that task's examples from this file (its format). Without --task: your "
                          "json / jsonl / tsv file, read with --template, --answer_field and --options_field."},
    )
    template: str | None = field(
        default=None,
        metadata={"help": "The query's prompt with {field} placeholders (\\n = newline), e.g. "
                          "'Q: {question}\\nA:'; a built-in task's own when left out."},
    )
    target_template: str = field(
        default="{answer}",
        metadata={"help": "--data_file: what a demonstration shows after its question ({answer}: the gold option "
                          "or answer)."},
    )
    description: str | None = field(
        default=None, metadata={"help": "Text put before the demonstrations (end it with \\n\\n)."}
    )
    answer_field: str = field(
        default="answer",
        metadata={"help": "--data_file: the field holding the gold answer (with options: its text, index or "
                          "letter)."},
    )
    options_field: str | None = field(
        default=None,
        metadata={"help": "--data_file: the field holding each example's options (a JSON list, or '|'-separated in "
                          "a tsv), ranked by log-likelihood."},
    )
    options: list[str] | None = field(
        default=None, metadata={"help": "--data_file: the same options for every example (e.g. negative positive).",
                                "nargs": "+"}
    )
    task_name: str | None = field(
        default=None, metadata={"help": "--data_file without --task: the task's name in the results (default: the "
                                        "file's name)."}
    )
    num_fewshot: list[int] | None = field(
        default=None,
        metadata={"help": "Demonstrations per prompt; several values give a curve (e.g. 0 1 2 4 8 16 32). Default 8 "
                          "for cot_fewshot, fewshot_standard and self_consistency, 0 otherwise. Demonstrations that do not fit the "
                          "context are dropped (the farthest first) and counted.", "nargs": "+"},
    )
    fewshot_pool: str | None = field(
        default=None,
        metadata={"help": "File the demonstrations come from (the task's format, or --data_file's fields). Default: "
                          "the task's train split (its test file, the query excluded, when it has none or with "
                          "--data_file); Wei et al.'s exemplars for cot_fewshot / self_consistency (a pool for them "
                          "needs question, rationale and target fields)."},
    )
    seed: int = field(default=1234, metadata={"help": "Seed of the demonstrations' draw (lm-eval's default) and of "
                                                      "sampling."})
    mode: str | None = field(
        default=None,
        metadata={"help": "loglikelihood (rank options / greedy match), generate (greedy generation, answer "
                          "extracted), cot_fewshot (worked exemplars), fewshot_standard (the same exemplars, answers only: Wei et "
                          "al.'s standard prompting), cot_zeroshot or self_consistency. Default: the task's.",
                  "choices": list(MODES)},
    )
    extractor: str | None = field(
        default=None,
        metadata={"help": "Generation: how the answer is taken from the text (last_number, first_number, "
                          "cot_number, gsm8k_strict, letter, letter_af, yes_no, word, option, first_line). Default: "
                          "the task's; option (the first option named) with options, else first_line."},
    )
    stop: list[str] | None = field(
        default=None, metadata={"help": "Generation: stop sequences (\\n = newline). Default: the task's.",
                                "nargs": "+"}
    )
    max_new_tokens: int = field(
        default=256, metadata={"help": "Generation: tokens to generate (cot_zeroshot: for the reasoning)."}
    )
    num_samples: int = field(default=10, metadata={"help": "self_consistency: sampled chains per question."})
    temperature: float = field(default=0.7, metadata={"help": "self_consistency: sampling temperature."})
    top_k: int = field(default=40, metadata={"help": "self_consistency: top-k sampling (0: off)."})
    limit: int | None = field(
        default=None, metadata={"help": "Evaluate the first N examples only (the results say they are shortened)."}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Longest prompt plus answer in tokens (default: the model's context; no limit "
                                        "for recurrent and n-gram models)."}
    )
    batch_size: int = field(default=8, metadata={"help": "Prompts (option rows) per forward pass."})
    chat_template: bool = field(
        default=False, metadata={"help": "Render prompts with the tokenizer's chat template (one user turn)."}
    )
    bf16: bool = field(default=False, metadata={"help": "Run the model in bfloat16."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ... (default: cuda if present)."})

    def __post_init__(self):
        if not self.task and not self.data_file:
            raise InputError("give --task (a built-in task) or --data_file with --template")
        if self.task and self.data_file and len(self.task) > 1:
            raise InputError(f"--data_file replaces the file of one task, but {len(self.task)} tasks were given "
                             f"({' '.join(self.task)})")
        if not self.task and not self.template:
            raise InputError(f"--data_file {self.data_file} needs --template, the prompt with the file's {{fields}}")
        if self.data_file and not os.path.isfile(self.data_file):
            raise InputError(f"--data_file {self.data_file}: no such file")
        if self.fewshot_pool and not os.path.isfile(self.fewshot_pool):
            raise InputError(f"--fewshot_pool {self.fewshot_pool}: no such file")
        if self.options_field and self.options:
            raise InputError("give --options_field (options per example) or --options (the same for all), not both")
        for name in ("max_new_tokens", "num_samples", "limit", "max_length", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name} must be at least 1, got {value}")
        if self.num_fewshot is not None:
            if any(k < 0 for k in self.num_fewshot):
                raise InputError(f"--num_fewshot must be 0 or more, got {' '.join(map(str, self.num_fewshot))}")
            self.num_fewshot = sorted(set(self.num_fewshot))
        if self.extractor is not None:
            from hf_models.prompting import EXTRACTORS

            known = [*EXTRACTORS, "option", "first_line"]
            if self.extractor not in known:
                raise InputError(f"--extractor must be one of {', '.join(known)}, got {self.extractor!r}")
        if self.temperature <= 0:
            raise InputError(f"--temperature must be positive, got {self.temperature}")
        if self.top_k < 0:
            raise InputError(f"--top_k must be 0 (off) or more, got {self.top_k}")


# ----------------------------------------------------------------------------------------------------------------------
# Model and tokenizer
# ----------------------------------------------------------------------------------------------------------------------
def ngram_tokenizer(model):
    """A word-level tokenizer over an n-gram model's vocabulary (same ids): whitespace-split words, `<s>` put before
    each text (the n-gram's sentence start), `</s>` as eos, unknown words as `<unk>`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = model.vocab
    core = Tokenizer(models.WordLevel(vocab=dict(vocab.word_to_id), unk_token=vocab.unk_token))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    bos_id = vocab.word_to_id[vocab.bos_token]
    core.post_processor = processors.TemplateProcessing(single=f"{vocab.bos_token} $A",
                                                        special_tokens=[(vocab.bos_token, bos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token=vocab.unk_token, bos_token=vocab.bos_token,
                                   eos_token=vocab.eos_token)


def _has_tokenizer_files(source: str) -> bool:
    names = set(os.listdir(source)) if os.path.isdir(source) else set()
    return bool(names & {"tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model"})


def load_model_and_tokenizer(model_args: ModelArguments, args: PromptingArguments):
    """The causal LM (hf_models' or transformers' classes, --implementation) on --device, and its tokenizer."""
    from transformers import AutoModelForCausalLM

    from hf_models.tasks.causal_lm import load_lm_tokenizer
    from hf_models.trainer_utils import load_config, load_model

    config = load_config(model_args)
    model = load_model(AutoModelForCausalLM, model_args, config)
    source = model_args.tokenizer_name or model_args.model_name_or_path
    if hasattr(model, "vocab") and hasattr(model.vocab, "word_to_id") and not _has_tokenizer_files(source):
        tokenizer = ngram_tokenizer(model)
        logger.info(f"{source}: the n-gram model's vocabulary ({len(tokenizer):,} words) is the tokenizer")
    else:
        tokenizer = load_lm_tokenizer(source, model_args)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as error:
        raise InputError(f"--device {device}: {str(error).splitlines()[0]}") from None
    if args.bf16:
        if any(True for _ in model.parameters()):
            model.to(torch.bfloat16)
        else:
            logger.warning(f"--bf16: {type(model).__name__} has no parameters (a count-based model); its tables stay "
                           "in float32")
    return model.eval(), tokenizer


# ----------------------------------------------------------------------------------------------------------------------
# Tasks: examples, demonstration pool, template
# ----------------------------------------------------------------------------------------------------------------------
def unescape(text: str | None) -> str | None:
    """Command-line text with \\n and \\t written out: newlines and tabs (a literal backslash is \\\\)."""
    if text is None:
        return None
    return re.sub(r"\\([nt\\])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], text)


@dataclass
class TaskRun:
    """One task as this run evaluates it."""

    name: str
    examples: list
    examples_total: int
    pool: list | None  # None: the examples themselves (the query excluded)
    pool_source: str
    template: Any
    mode: str
    extractor: str | None
    stop: tuple[str, ...]
    answer_format: str | None


def _user_fields(template) -> list[str]:
    # "answer", "choices" and "label" are filled by read_examples from the answer and the options
    return sorted(template.placeholders() - {"answer", "choices", "label"})


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "task"


def prepare_task(name: str | None, args: PromptingArguments) -> TaskRun:
    """Read a task's examples (first --limit) and its demonstration pool, and settle its template, mode and answer
    extraction."""
    from hf_models.prompting import PromptTemplate, get_task, read_examples

    template_text, description = unescape(args.template), unescape(args.description) or ""
    if name is not None:
        task = get_task(name)
        template = task.template
        if template_text is not None:
            template = PromptTemplate(template_text, template.target, description or template.description,
                                      template.target_delimiter, template.fewshot_delimiter, template.choice)
        elif description:
            template = PromptTemplate(template.text, template.target, description, template.target_delimiter,
                                      template.fewshot_delimiter, template.choice)
        if args.data_file:
            examples = task.reader(args.data_file)
        else:
            examples = task.read(args.data_dir)
        if args.fewshot_pool:
            pool, pool_source = task.reader(args.fewshot_pool), args.fewshot_pool
        elif task.pool_file and not args.data_file:
            pool, pool_source = task.read(args.data_dir, "pool"), str(Path(args.data_dir) / task.pool_file)
        else:
            pool, pool_source = None, "the evaluated examples (the query excluded)"
        default_mode = "loglikelihood" if task.output in ("multiple_choice", "greedy_match") else "generate"
        extractor, stop, answer_format, task_name = task.extractor, task.stop, task.answer_format, task.name
    else:
        template = PromptTemplate(template_text, unescape(args.target_template), description)
        fields = _user_fields(template)
        examples = read_examples(args.data_file, fields, args.answer_field, args.options_field, args.options)
        if args.fewshot_pool:
            pool = read_examples(args.fewshot_pool, fields, args.answer_field, args.options_field, args.options)
            pool_source = args.fewshot_pool
        else:
            pool, pool_source = None, "the evaluated examples (the query excluded)"
        has_options = examples[0].options is not None
        default_mode = "loglikelihood" if has_options else "generate"
        extractor, stop, answer_format = None, ("\n\n",), ("letter" if has_options else "text")
        task_name = _safe_name(args.task_name or Path(args.data_file).name.split(".")[0])
    total = len(examples)
    if pool is None:
        pool = examples  # all of them, even with --limit; the sampler never shows an example its own question
    if args.limit is not None:
        examples = examples[:args.limit]
    if args.extractor is not None:
        extractor = args.extractor
    elif extractor is None:
        extractor = "option" if examples[0].options is not None else "first_line"
    if args.stop:
        stop = tuple(unescape(s) for s in args.stop)
    return TaskRun(task_name, examples, total, pool, pool_source, template, args.mode or default_mode, extractor,
                   tuple(stop), answer_format)


# ----------------------------------------------------------------------------------------------------------------------
# Answer extraction beyond the library's (options named in free text, a first line)
# ----------------------------------------------------------------------------------------------------------------------
def first_option(text: str, options: list[str]) -> str:
    """The option the generation names first (whole words, case-insensitive), else an option letter, else ""."""
    from hf_models.prompting import extract_letter

    lowered, best = text.lower(), None
    for option in options:
        match = re.search(r"(?<!\w)" + re.escape(option.strip().lower()) + r"(?!\w)", lowered)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), option)
    if best is not None:
        return best[1]
    return extract_letter(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:len(options)])


def first_line(text: str) -> str:
    """The generation's first non-empty line, without surrounding spaces, quotes and a final period."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip().strip("\"'").rstrip(".").strip() if lines else ""


def extract_answer(extractor: str, text: str, example) -> str:
    from hf_models.prompting.generation import get_extractor

    if extractor == "option":
        if example.options is None:
            raise InputError(f"{example.where}: --extractor option needs options, and this example has none")
        return first_option(text, example.options)
    if extractor == "first_line":
        return first_line(text)
    return get_extractor(extractor)(text)


# ----------------------------------------------------------------------------------------------------------------------
# One (task, shots) evaluation
# ----------------------------------------------------------------------------------------------------------------------
def _cot_pool(args: PromptingArguments, run: TaskRun):
    from hf_models.prompting import read_examples, wei_arithmetic_exemplars

    if args.fewshot_pool:
        return read_examples(args.fewshot_pool, ["question", "rationale", "target"], "target"), args.fewshot_pool
    if run.answer_format != "number":
        raise InputError(f"--mode {run.mode}: task {run.name} answers with a {run.answer_format or 'free text'}, "
                         "and hf_models ships worked exemplars (Wei et al.'s eight) for arithmetic only; give "
                         "--fewshot_pool with question, rationale and target fields, or use --mode cot_zeroshot")
    return wei_arithmetic_exemplars(), "Wei et al. 2022's arithmetic exemplars (Table 20)"


def _after_trigger(text: str) -> str:
    """What follows the last "The answer is" of a chain of thought (the whole text when the phrase is absent)."""
    from hf_models.prompting.generation import extract_after

    after = extract_after(text)
    return text if after is None else after


def _generation_records(examples, prompts, generations, extractor: str, after_trigger: bool = False) -> list[dict]:
    from hf_models.prompting import answers_match

    records = []
    for example, prompt, (generation,) in zip(examples, prompts, generations):
        text = _after_trigger(generation) if after_trigger else generation
        prediction = extract_answer(extractor, text, example)
        records.append({"where": example.where, **prompt.to_dict(), "generation": generation,
                        "prediction": prediction, "gold": example.answer,
                        "correct": float(answers_match(prediction, example))})
    return records


def evaluate(model, tokenizer, run: TaskRun, k: int, args: PromptingArguments, max_length: int | None,
             show_progress: bool) -> tuple[dict, list[dict]]:
    """The metrics and the per-example records of `run` with `k` demonstrations."""
    from hf_models.prompting import (
        ANSWER_TRIGGERS,
        COT_STOP,
        COT_TEMPLATE,
        STANDARD_TEMPLATE,
        PromptTemplate,
        accuracy_with_ci,
        build_prompts,
        evaluate_loglikelihood,
        generate_until,
        self_consistency,
        zero_shot_cot,
    )
    from hf_models.prompting.cot import ZERO_SHOT_COT_EXTRACTORS
    from hf_models.prompting.generation import EXTRACTORS

    metrics: dict[str, Any] = {}
    pool_source, template = run.pool_source, run.template
    if run.mode == "loglikelihood":
        result = evaluate_loglikelihood(model, tokenizer, run.examples, run.template, k, run.pool, args.seed,
                                        max_length=max_length, batch_size=args.batch_size, chat=args.chat_template,
                                        show_progress=show_progress)
        records = result.pop("per_example")
        for record in records:
            record["correct"] = record["acc"]
        metrics = {name: result[name] for name in ("acc", "acc_norm", "acc_bytes", "acc_tokens") if name in result}
        if "perplexity" in result:
            metrics["perplexity"] = result["perplexity"]
        if result.get("unknown_targets"):
            logger.warning(f"{run.name}: {result['unknown_targets']} of {len(records)} targets hold a word outside the "
                           "model's vocabulary; they count as wrong")
            metrics["unknown_targets"] = result["unknown_targets"]
    elif run.mode == "generate":
        prompts = build_prompts(run.examples, run.template, k, run.pool, args.seed, tokenizer=tokenizer,
                                max_length=max_length, reserve=args.max_new_tokens, chat=args.chat_template)
        generations = generate_until(model, tokenizer, [p.text for p in prompts], run.stop, args.max_new_tokens,
                                     batch_size=args.batch_size, show_progress=show_progress)
        records = _generation_records(run.examples, prompts, generations, run.extractor)
    elif run.mode in ("cot_fewshot", "fewshot_standard", "self_consistency"):
        template = STANDARD_TEMPLATE if run.mode == "fewshot_standard" else COT_TEMPLATE
        pool, pool_source = _cot_pool(args, run)
        prompts = build_prompts(run.examples, template, k, pool, args.seed, sampler="first_n",
                                tokenizer=tokenizer, max_length=max_length, reserve=args.max_new_tokens,
                                chat=args.chat_template)
        # numbers: Kojima et al.'s few-shot cleansing (the first number after "The answer is", else the last one);
        # other answers: the task's extractor on what follows "The answer is" (the whole chain when it is absent)
        name = "cot_number" if run.answer_format == "number" and args.extractor is None else run.extractor
        if run.mode in ("cot_fewshot", "fewshot_standard"):
            generations = generate_until(model, tokenizer, [p.text for p in prompts], COT_STOP, args.max_new_tokens,
                                         batch_size=args.batch_size, show_progress=show_progress)
            records = _generation_records(run.examples, prompts, generations, name, after_trigger=name != "cot_number")
        else:
            if name not in EXTRACTORS:
                raise InputError(f"--mode self_consistency votes over answers that one of the library's extractors "
                                 f"takes from each chain; give --extractor ({', '.join(EXTRACTORS)}), not {name!r}")
            extract = EXTRACTORS[name]
            result = self_consistency(model, tokenizer, run.examples, prompts, args.num_samples, args.temperature,
                                      args.top_k or None,
                                      extract if name == "cot_number" else (lambda t: extract(_after_trigger(t))),
                                      COT_STOP, args.max_new_tokens, args.batch_size, args.seed,
                                      show_progress=show_progress)
            records = result.pop("per_example")
            for record, prompt in zip(records, prompts):
                record.update({key: value for key, value in prompt.to_dict().items() if key != "prompt"})
    elif run.mode == "cot_zeroshot":
        if k:
            raise InputError(f"--mode cot_zeroshot takes no demonstrations (Kojima et al.'s zero-shot CoT), but "
                             f"--num_fewshot {k} was given: use --num_fewshot 0, or --mode cot_fewshot")
        if args.chat_template:
            raise InputError("--chat_template is not available with --mode cot_zeroshot (Kojima et al.'s two stages "
                             "continue the raw text)")
        answer_format = run.answer_format or "text"
        if answer_format not in ANSWER_TRIGGERS:
            raise InputError(f"task {run.name}: no zero-shot CoT answer trigger for answer format {answer_format!r}")
        # the query must fit with the reasoning, the answer trigger and the answer (the query is never truncated)
        template = PromptTemplate("Q: {question}\nA:", "")
        build_prompts(run.examples, template, 0, tokenizer=tokenizer, max_length=max_length,
                      reserve=args.max_new_tokens + 32 + 24)
        pool_source = None
        extractor = args.extractor or ZERO_SHOT_COT_EXTRACTORS[answer_format]
        extractor = {"first_line": first_line, "option": EXTRACTORS["letter"]}.get(extractor, extractor)
        result = zero_shot_cot(model, tokenizer, run.examples, answer_format, max_reasoning_tokens=args.max_new_tokens,
                               extractor=extractor, batch_size=args.batch_size, show_progress=show_progress)
        records = result.pop("per_example")
    else:  # the argument's choices keep this out
        raise InputError(f"unknown --mode {run.mode!r}; choose one of {', '.join(MODES)}")
    accuracy = accuracy_with_ci([r["correct"] for r in records])
    metrics = {"acc": accuracy, **{name: value for name, value in metrics.items() if name != "acc"}}
    dropped = [int(r.get("dropped_demonstrations") or 0) for r in records]
    summary = {"accuracy": accuracy, "metrics": metrics, "n": len(records),
               "dropped_demonstrations": sum(dropped),
               "prompts_with_dropped_demonstrations": sum(d > 0 for d in dropped), "fewshot_pool": pool_source,
               "template": template}
    return summary, records


# ----------------------------------------------------------------------------------------------------------------------
# The output folder: results.json, samples, curve
# ----------------------------------------------------------------------------------------------------------------------
def run_settings(args: PromptingArguments, model_args: ModelArguments) -> dict[str, Any]:
    """What determines the results (a rerun with other settings is refused): every argument except the task list,
    the shot counts, batch size, device and output options."""
    settings = {key: value for key, value in asdict(args).items() if key not in NOT_SETTINGS}
    settings.update({key: value for key, value in asdict(model_args).items() if key not in NOT_SETTINGS})
    return settings


def _differences(old: dict, new: dict) -> list[str]:
    return [f"--{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)]


def take_output_dir(out: OutputArguments, settings: dict, inputs: list[str]) -> dict[str, Any]:
    """The output folder, prepared by the package's rules, and the results already in it: a folder holding this
    command's results.json with the same settings is resumed; other settings, or other files, are refused unless
    --overwrite_output_dir."""
    path = Path(out.output_dir) / RESULTS_FILE
    previous = None
    if not out.overwrite_output_dir and path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: cannot be read ({error}); pass --overwrite_output_dir to start afresh") from None
        if not isinstance(previous, dict) or previous.get("command") != COMMAND:
            raise InputError(f"{path} was not written by eval_prompting.py: use another --output_dir, or pass "
                             "--overwrite_output_dir to replace its contents")
        changed = _differences(previous.get("settings", {}), json.loads(json.dumps(settings)))
        if changed:
            raise InputError(f"--output_dir {out.output_dir} holds results with other settings ({'; '.join(changed)}):"
                             " pass --overwrite_output_dir to replace them, or use another --output_dir")
    prepare_output_dir(out.output_dir, out.overwrite_output_dir, inputs=inputs, resumable=previous is not None)
    if previous is None:
        return {"command": COMMAND, "settings": settings, "results": {}}
    finished = sum(len(v) for v in previous.get("results", {}).values())
    logger.info(f"{out.output_dir}: resuming; {finished} finished (task, shots) result(s) with the same settings are "
                "kept and skipped")
    return previous


def _keep_on_failure(output_dir: str) -> None:
    """A finished (task, shots) result is worth keeping: a later failure (or Ctrl-C) of this run must not take the
    folder back to empty, as `releases_output_dirs` does for a run that saved nothing (rerun to resume)."""
    cli_utils.keep_output_dir(output_dir)


def write_samples(path: Path, records: list[dict]) -> None:
    with atomic_write(path) as f:
        for index, record in enumerate(records):
            record = cli_utils.json_safe({"index": index, **record}, str(path))
            f.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


def write_curve(output_dir: str, results: dict, tasks: list[str], shots: list[int], model: str = "") -> list[str]:
    """accuracy_vs_shots.png (accuracy with its interval against the shots, one line per task) and .md (a table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    lines = ["| task | " + " | ".join(f"{k}-shot" for k in shots) + " |", "|---|" + "---|" * len(shots)]
    for task in tasks:
        entries = results.get(task, {})
        points = [(k, entries[str(k)]["accuracy"]) for k in shots if str(k) in entries]
        if points:
            xs = [k for k, _ in points]
            ys = [a["value"] for _, a in points]
            errors = [[a["value"] - a["ci_low"] for _, a in points], [a["ci_high"] - a["value"] for _, a in points]]
            axis.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=task)
        cells = []
        for k in shots:
            entry = entries.get(str(k))
            if entry is None:
                cells.append("")
                continue
            a = entry["accuracy"]
            cell = f"{a['value']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]"
            if entry.get("prompts_with_dropped_demonstrations"):
                cell += f" ({entry['prompts_with_dropped_demonstrations']} prompts cut)"
            cells.append(cell)
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    if any(k > 0 for k in shots):
        axis.set_xscale("symlog", linthresh=1)
    axis.set_xticks(shots)
    axis.set_xticklabels([str(k) for k in shots])
    axis.set_xlabel("demonstrations in the prompt (K)")
    axis.set_ylabel("accuracy (95% Wilson interval)")
    axis.set_ylim(0, 1)
    if model:
        axis.set_title(os.path.basename(os.path.normpath(model)) or model)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    png = os.path.join(output_dir, f"{CURVE_NAME}.png")
    with atomic_write(png, "wb") as f:
        figure.savefig(f, format="png", dpi=120)
    plt.close(figure)
    table = os.path.join(output_dir, f"{CURVE_NAME}.md")
    with atomic_write(table) as f:
        f.write("Accuracy (95% Wilson interval) against the number of demonstrations.\n\n" + "\n".join(lines) + "\n")
    return [png, table]


# ----------------------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------------------
@releases_output_dirs
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, model_args, out = parse_args((PromptingArguments, ModelArguments, OutputArguments), argv)
    setup_cli_logging(out.log_level, logger.name, disable_tqdm=out.disable_tqdm)
    settings = run_settings(args, model_args)
    # the tasks and their files are checked before the model loads and the folder is taken
    runs = [prepare_task(name, args) for name in (args.task or [None])]
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise InputError(f"--task names a task twice ({' '.join(names)})")
    inputs = input_paths(args, model_args) + [args.data_dir]
    state = take_output_dir(out, settings, inputs)
    model, tokenizer = load_model_and_tokenizer(model_args, args)
    from hf_models.tasks.causal_lm import model_context_length
    from hf_models.trainer_utils import implementation_name

    context = model_context_length(model.config)
    max_length = args.max_length or context
    if context is not None and max_length > context:
        raise InputError(f"--max_length {max_length} is longer than the model's {context} positions")
    implementation = implementation_name(model)
    for run in runs:
        shots = args.num_fewshot or ([8] if run.mode in ("cot_fewshot", "fewshot_standard", "self_consistency")
                                     else [0])
        for k in shots:
            done = state["results"].get(run.name, {}).get(str(k))
            if done is not None:
                logger.info(f"{run.name}, {k}-shot: already in {out.output_dir} (accuracy "
                            f"{done['accuracy']['value']:.4f}); skipped")
                continue
            logger.info(f"{run.name}, {k}-shot, mode {run.mode}: {len(run.examples):,} examples"
                        f"{f' (the first {len(run.examples)} of {run.examples_total})' if args.limit else ''}")
            started = time.perf_counter()
            summary, records = evaluate(model, tokenizer, run, k, args, max_length, out.show_progress)
            seconds = time.perf_counter() - started
            if summary["prompts_with_dropped_demonstrations"]:
                logger.warning(f"{run.name}, {k}-shot: {summary['prompts_with_dropped_demonstrations']} of "
                               f"{summary['n']} prompts were longer than the context of {max_length} tokens and lost "
                               f"{summary['dropped_demonstrations']} demonstrations in all (the farthest from the "
                               "query first; the queries are whole)")
            template = summary.pop("template")
            samples = f"samples_{run.name}_{k}shot.jsonl"
            write_samples(Path(out.output_dir) / samples, records)
            entry = {
                "task": run.name, "num_fewshot": k, "mode": run.mode, **summary,
                "shortened": len(run.examples) < run.examples_total, "examples_total": run.examples_total,
                "seconds": seconds, "samples_file": samples,
                "settings": {"model": model_args.model_name_or_path, "implementation": implementation,
                             "template": template.text, "target_template": template.target,
                             "description": template.description, "fewshot_pool": summary.pop("fewshot_pool"),
                             "seed": args.seed, "extractor": run.extractor if run.mode != "loglikelihood" else None,
                             "stop": list(run.stop) if run.mode == "generate" else None,
                             "max_new_tokens": args.max_new_tokens if run.mode != "loglikelihood" else None,
                             "num_samples": args.num_samples if run.mode == "self_consistency" else None,
                             "max_length": max_length, "limit": args.limit, "chat_template": args.chat_template,
                             "dtype": "bfloat16" if args.bf16 else "float32", "batch_size": args.batch_size},
            }
            state["results"].setdefault(run.name, {})[str(k)] = entry
            write_json(Path(out.output_dir) / RESULTS_FILE, state)
            _keep_on_failure(out.output_dir)
            accuracy = summary["accuracy"]
            logger.info(f"{run.name}, {k}-shot: accuracy {accuracy['value']:.4f} [{accuracy['ci_low']:.4f}, "
                        f"{accuracy['ci_high']:.4f}] over {summary['n']} examples ({seconds:.1f} s)")
            split = os.path.basename(args.data_file) if args.data_file else "test"
            if entry["shortened"]:
                split += f" (first {summary['n']})"
            append_results_row(results_table_path(out, out.output_dir), {
                "task": f"{run.name} {k}-shot {run.mode}", "split": split,
                "model": model_args.model_name_or_path, "implementation": implementation, "examples": summary["n"],
                "metrics": {"accuracy": accuracy["value"], "ci_low": accuracy["ci_low"],
                            "ci_high": accuracy["ci_high"]}, "output_dir": out.output_dir,
            })
    if args.num_fewshot and len(args.num_fewshot) > 1:
        written = write_curve(out.output_dir, state["results"], names, args.num_fewshot, model_args.model_name_or_path)
        logger.info(f"Accuracy against shots: {', '.join(written)}")
    return state


if __name__ == "__main__":
    run_main(main)
