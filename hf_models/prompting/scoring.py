"""Answering by ranking: the log-likelihood of each option given the prompt (lm-evaluation-harness's `loglikelihood`),
and the metrics lm-evaluation-harness derives from it (Brown et al. 2020, section 2.4: acc, and acc normalised by the
option's length), plus greedy match (is the option what greedy decoding would produce: LAMBADA's accuracy).

    log p(option | prompt) = sum_t log p(option_t | prompt, option_<t)

The prompt/option token split is lm-eval's (`hf_models.tasks.causal_lm.encode_pair`): context ids = encode(prompt),
option ids = encode(prompt + option) after as many tokens. Speed: the options of one prompt share it, so the prompt
runs once with `use_cache=True` (prompts batched by length, left-padded where the model takes position_ids), its cache
is copied to one row per option (`reorder_cache`), and the options run as one batch from there. Only
model(input_ids, attention_mask[, position_ids], cache) -> logits is used, so any causal LM with a cache works; one
without (or asked not to) is scored whole, as lm-eval does (`score_continuations`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..cli_utils import InputError
from .data import Example
from .metrics import accuracy_with_ci
from .prompts import PromptTemplate, build_prompts, render_choice


def _parameters(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def cache_keyword(model) -> str | None:
    """The name the model's forward takes its cache under ("cache" from transformers 5.24, "past_key_values" before)."""
    params = _parameters(model)
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def _output_cache(output):
    for name in ("cache", "past_key_values"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    return None


def model_max_length(model, tokenizer=None) -> int | None:
    """The model's context length from its config (n_positions, max_position_embeddings, ...), else None (no limit:
    recurrent and n-gram models)."""
    from ..tasks.causal_lm import model_context_length

    return model_context_length(model.config)


def model_device(model) -> torch.device:
    """Where the model's tensors are (`hf_models.tasks.causal_lm.model_device`: buffers for a count-based model)."""
    from ..tasks.causal_lm import model_device as device_of

    return device_of(model)


def _pad_id(tokenizer) -> int:
    if tokenizer is None:
        return 0
    for token in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token is not None:
            return token
    return 0


@torch.no_grad()
def _score_group_batch(model, groups: list[tuple[list[int], list[list[int]]]], pad_id: int, left_pad: bool
                       ) -> list[list[tuple[float, bool]]]:
    """Prompts with their options: the prompts run once (left-padded, as one batch), the options from their cache."""
    device = model_device(model)
    params = _parameters(model)
    width = max(len(context) for context, _ in groups)
    input_ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(groups), width), dtype=torch.long)
    for row, (context, _) in enumerate(groups):  # left padding: every prompt ends in the last column
        input_ids[row, width - len(context):] = torch.tensor(context)
        mask[row, width - len(context):] = 1
    kwargs: dict[str, Any] = {"attention_mask": mask.to(device), "use_cache": True}
    if left_pad and "position_ids" in params:
        kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(device)
    if "logits_to_keep" in params:
        kwargs["logits_to_keep"] = 1
    output = model(input_ids.to(device), **kwargs)
    first = torch.log_softmax(output.logits[:, -1].float(), dim=-1)  # (prompts, vocab): predicts each option's token 1
    rows = [row for row, (_, options) in enumerate(groups) for _ in options]  # the prompt of each option row
    options = [option for _, opts in groups for option in opts]
    longest = max(len(option) for option in options)
    later: dict[int, torch.Tensor] = {}  # option row -> log-probabilities of its tokens 2..
    longer = [r for r, option in enumerate(options) if len(option) > 1]  # a one-token option is scored already
    if longer:  # the options' tokens 2.. need a forward pass from the prompts' cache
        cache = _output_cache(output)
        prompt_rows = [rows[r] for r in longer]
        cache.reorder_cache(torch.tensor(prompt_rows, device=device))  # one copy of its prompt's cache per row
        option_ids = torch.full((len(longer), longest - 1), pad_id, dtype=torch.long)
        option_mask = torch.zeros((len(longer), longest - 1), dtype=torch.long)
        for i, r in enumerate(longer):  # right padding: the options' own tokens come first
            option_ids[i, :len(options[r]) - 1] = torch.tensor(options[r][:-1])
            option_mask[i, :len(options[r]) - 1] = 1
        full_mask = torch.cat([mask[prompt_rows], option_mask], dim=1).to(device)  # (rows, prompt + option)
        step: dict[str, Any] = {"attention_mask": full_mask, "use_cache": True, cache_keyword(model): cache}
        if "position_ids" in kwargs:
            start = mask.sum(-1)[prompt_rows]  # each prompt's real length
            step["position_ids"] = (start[:, None] + torch.arange(longest - 1)[None]).to(device)
        logits = model(option_ids.to(device), **step).logits
        scores_later = torch.log_softmax(logits.float(), dim=-1)  # (rows, L-1, V)
        later = {r: scores_later[i, :len(options[r]) - 1] for i, r in enumerate(longer)}
    results: list[list[tuple[float, bool]]] = [[] for _ in groups]
    for r, (row, option) in enumerate(zip(rows, options)):
        target = torch.tensor(option, device=device)
        scores = first[row][None] if r not in later else torch.cat([first[row][None], later[r]])
        log_likelihood = scores.gather(-1, target[:, None]).double().sum().item()
        results[row].append((log_likelihood, bool((scores.argmax(-1) == target).all())))
    return results


def loglikelihood_tokens(model, requests: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int | None = None,
                         batch_size: int = 8, pad_token_id: int = 0, cache_prefix: bool = True,
                         show_progress: bool = False) -> list[dict[str, Any]]:
    """{log_likelihood, is_greedy, tokens} of each (context ids, continuation ids) request (lm-eval's
    `_loglikelihood_tokens`): continuations sharing a context are scored from one cached run of it; a request longer
    than `max_length` (or every request, without `cache_prefix` or a model cache) is scored whole, left-truncated as
    lm-eval does."""
    from tqdm.auto import tqdm

    from ..tasks.causal_lm import score_continuations

    requests = [(list(c), list(o)) for c, o in requests]
    for index, (context, continuation) in enumerate(requests):
        if not context or not continuation:
            raise InputError(f"request {index}: the {'context' if not context else 'continuation'} has no tokens")
    limit = max_length if max_length is not None else math.inf
    use_cache = cache_prefix and cache_keyword(model) is not None
    groups: dict[tuple[int, ...], list[int]] = {}
    whole = []
    for index, (context, continuation) in enumerate(requests):
        if use_cache and len(context) + len(continuation) - 1 <= limit:
            groups.setdefault(tuple(context), []).append(index)
        else:
            whole.append(index)
    results: list[dict[str, Any] | None] = [None] * len(requests)
    if whole:
        plain = score_continuations(model, [requests[i] for i in whole],
                                    max_length if max_length is not None else 10**9, batch_size, "right",
                                    pad_token_id)
        for i, score in zip(whole, plain):
            results[i] = score
    left_pad = "position_ids" in _parameters(model)
    ordered = sorted(groups.items(), key=lambda item: -len(item[0]))  # longest first: similar lengths together
    batches: list[list[tuple[tuple[int, ...], list[int]]]] = []
    for context, members in ordered:  # a batch holds up to batch_size option rows; without position_ids, one length
        if batches and sum(len(m) for _, m in batches[-1]) + len(members) <= max(batch_size, len(members)) and (
                left_pad or len(batches[-1][0][0]) == len(context)):
            batches[-1].append((context, members))
        else:
            batches.append([(context, members)])
    for batch in tqdm(batches, desc="Scoring options", unit=" batch", disable=not show_progress):
        scored = _score_group_batch(model, [(list(c), [requests[i][1] for i in m]) for c, m in batch],
                                    pad_token_id, left_pad)
        for (_, members), group_scores in zip(batch, scored):
            for i, (log_likelihood, greedy) in zip(members, group_scores):
                results[i] = {"log_likelihood": log_likelihood, "is_greedy": greedy, "tokens": len(requests[i][1])}
    return results


def loglikelihood(model, tokenizer, requests: Sequence[tuple[str, str]], max_length: int | None = None,
                  batch_size: int = 8, cache_prefix: bool = True, show_progress: bool = False) -> list[dict[str, Any]]:
    """log p(continuation | context) and greedy match of (context, continuation) strings, lm-eval's `loglikelihood`
    (its context/continuation token split: `encode_pair`)."""
    from ..tasks.causal_lm import encode_pair

    encoded = [encode_pair(tokenizer, context, continuation) for context, continuation in requests]
    if max_length is None:
        max_length = model_max_length(model)
    return loglikelihood_tokens(model, encoded, max_length, batch_size, _pad_id(tokenizer), cache_prefix,
                                show_progress)


def multiple_choice_metrics(log_likelihoods: Sequence[float], options: Sequence[str], gold: int,
                            token_counts: Sequence[int] | None = None) -> dict[str, Any]:
    """lm-evaluation-harness's multiple-choice metrics of one example: acc (argmax of the log-likelihoods), acc_norm
    (divided by each option's length in characters, lm-eval's `len(choice)`), acc_bytes (by UTF-8 bytes) and
    acc_tokens (by tokens); the option strings are the choices without the target delimiter."""
    lls = np.asarray(log_likelihoods, dtype=np.float64)
    chars = np.array([float(len(o)) for o in options])
    num_bytes = np.array([float(len(o.encode("utf-8"))) for o in options])
    result = {
        "pred": int(np.argmax(lls)),
        "pred_norm": int(np.argmax(lls / chars)),
        "pred_bytes": int(np.argmax(lls / num_bytes)),
    }
    if token_counts is not None:
        result["pred_tokens"] = int(np.argmax(lls / np.asarray(token_counts, dtype=np.float64)))
    for name in ("", "_norm", "_bytes", "_tokens"):
        if f"pred{name}" in result:
            result[f"acc{name}"] = float(result[f"pred{name}"] == gold)
    return result


def evaluate_loglikelihood(model, tokenizer, examples: Sequence[Example], template: PromptTemplate,
                           num_fewshot: int = 0, pool: Sequence[Example] | None = None, seed: int = 1234,
                           sampler: str = "random", max_length: int | None = None, batch_size: int = 8,
                           chat: bool = False, fewshot_as_multiturn: bool = False, cache_prefix: bool = True,
                           confidence: float = 0.95, show_progress: bool = False) -> dict[str, Any]:
    """Few-shot evaluation by ranking: examples with options get acc / acc_norm / acc_bytes / acc_tokens (each with a
    Wilson interval); examples without options (LAMBADA) get greedy-match accuracy of their gold continuation and
    its perplexity. Every example's prompt, options, log-likelihoods and prediction are kept in `per_example`."""
    from ..tasks.causal_lm import encode_pair

    if not examples:
        raise InputError("no examples to evaluate")
    if max_length is None:
        max_length = model_max_length(model)
    delimiter = template.target_delimiter
    choices = [render_choice(template, e.options) if e.options is not None else None for e in examples]
    continuations = [[delimiter + c for c in own] if own is not None else [delimiter + str(e.gold)]
                     for e, own in zip(examples, choices)]
    reserve = [max(len(encode_pair(tokenizer, "x", c)[1]) for c in conts) for conts in continuations]
    prompts = build_prompts(examples, template, num_fewshot, pool, seed, sampler, tokenizer, max_length, reserve,
                            chat, fewshot_as_multiturn)
    requests = [(p.text, c) for p, conts in zip(prompts, continuations) for c in conts]
    scores = loglikelihood(model, tokenizer, requests, max_length, batch_size, cache_prefix, show_progress)
    unk_id = getattr(tokenizer, "unk_token_id", None)
    per_example, position = [], 0
    for example, prompt, conts, own_choices in zip(examples, prompts, continuations, choices):
        own = scores[position: position + len(conts)]
        position += len(conts)
        record = {"where": example.where, **prompt.to_dict(), "continuations": conts,
                  "log_likelihoods": [s["log_likelihood"] for s in own], "tokens": [s["tokens"] for s in own],
                  "is_greedy": [s["is_greedy"] for s in own], "gold": example.gold}
        if example.options is not None:
            record.update(multiple_choice_metrics(record["log_likelihoods"], own_choices, example.gold,
                                                  record["tokens"]))
        else:  # a target the vocabulary lacks is not produced by predicting the unknown token (word-level models)
            unknown = unk_id is not None and unk_id in encode_pair(tokenizer, prompt.text, conts[0])[1]
            record["unknown_target"] = unknown
            record["acc"] = float(own[0]["is_greedy"] and not unknown)
        per_example.append(record)
    metric_names = [m for m in ("acc", "acc_norm", "acc_bytes", "acc_tokens") if m in per_example[0]]
    result: dict[str, Any] = {"examples": len(examples), "num_fewshot": num_fewshot, "seed": seed,
                              "dropped_demonstrations": sum(p.dropped for p in prompts),
                              "prompts_with_dropped_demonstrations": sum(p.dropped > 0 for p in prompts)}
    for name in metric_names:
        result[name] = accuracy_with_ci([r[name] for r in per_example], confidence)
    if examples[0].options is None:
        result["unknown_targets"] = sum(r["unknown_target"] for r in per_example)
        result["perplexity"] = math.exp(-float(np.mean([r["log_likelihoods"][0] for r in per_example])))
    result["per_example"] = per_example
    return result


__all__ = ["cache_keyword", "evaluate_loglikelihood", "loglikelihood", "loglikelihood_tokens", "model_max_length",
           "multiple_choice_metrics"]
