"""In-context learning and chain-of-thought prompting for any causal LM (Brown et al. 2020; Wei et al. 2022; Kojima
et al. 2022; Wang et al. 2022): data readers, prompt construction as GPT-3 and lm-evaluation-harness build it, answers by
ranking options (log-likelihood from one cached prompt) or by generation with answer extraction, chain of thought, and
accuracy with a confidence interval. Only model(input_ids, attention_mask) -> logits, its cache and generate() are used,
so hf_models' GPT, transformers' own causal LMs and hf_models' recurrent and n-gram LMs all work."""

from .cot import (
    ANSWER_TRIGGERS,
    COT_STOP,
    COT_TEMPLATE,
    COT_TRIGGER,
    STANDARD_TEMPLATE,
    WEI_ARITHMETIC_EXEMPLARS,
    few_shot_cot_prompts,
    majority_vote,
    self_consistency,
    wei_arithmetic_exemplars,
    zero_shot_cot,
)
from .data import (
    Example,
    gsm8k_gold,
    normalize_number,
    read_aqua,
    read_arithmetic,
    read_bigbench,
    read_commonsenseqa,
    read_examples,
    read_glue_examples,
    read_gsm8k,
    read_lambada_examples,
    read_strategyqa,
    read_symbolic,
)
from .generation import (
    EXTRACTORS,
    answers_match,
    cut_at_stop,
    evaluate_generation,
    extract_cot_number,
    extract_letter,
    extract_number,
    extract_word,
    extract_yes_no,
    generate_until,
    gsm8k_hash,
    gsm8k_strict,
)
from .metrics import accuracy_with_ci, bootstrap_interval, wilson_interval
from .prompts import (
    DemonstrationSampler,
    Prompt,
    PromptTemplate,
    build_prompt,
    build_prompts,
    format_prompt,
    render,
    render_choice,
)
from .scoring import (
    evaluate_loglikelihood,
    loglikelihood,
    loglikelihood_tokens,
    multiple_choice_metrics,
)
from .tasks import TASKS, PromptingTask, get_task

__all__ = [
    "ANSWER_TRIGGERS", "COT_STOP", "COT_TEMPLATE", "COT_TRIGGER", "EXTRACTORS", "STANDARD_TEMPLATE", "TASKS",
    "WEI_ARITHMETIC_EXEMPLARS", "DemonstrationSampler", "Example", "Prompt", "PromptTemplate", "PromptingTask",
    "accuracy_with_ci", "answers_match", "bootstrap_interval", "build_prompt", "build_prompts", "cut_at_stop",
    "evaluate_generation", "evaluate_loglikelihood", "extract_cot_number", "extract_letter", "extract_number",
    "extract_word", "extract_yes_no", "few_shot_cot_prompts", "format_prompt", "generate_until", "get_task",
    "gsm8k_gold", "gsm8k_hash", "gsm8k_strict", "loglikelihood", "loglikelihood_tokens", "majority_vote", "multiple_choice_metrics",
    "normalize_number", "read_aqua", "read_arithmetic", "read_bigbench", "read_commonsenseqa", "read_examples",
    "read_glue_examples", "read_gsm8k", "read_lambada_examples", "read_strategyqa", "read_symbolic", "render",
    "render_choice",
    "self_consistency", "wei_arithmetic_exemplars", "wilson_interval", "zero_shot_cot",
]
