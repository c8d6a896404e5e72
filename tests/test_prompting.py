"""hf_models.prompting: data readers (real files when ../shared/data is there), prompt construction as lm-evaluation-
harness (demonstrations never the query, seeds, templates, truncation), log-likelihood scoring from a cached prompt
equal to plain full-sequence scoring (hf_models' GPT and transformers' Llama), lm-eval's acc_norm, answer extraction,
generation with stop sequences, chain of thought (Wei et al.'s exemplars, Kojima et al.'s two stages, self-consistency)
and the confidence interval. Tiny random models and a tiny BPE tokenizer: fast."""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import requires_shared_data, shared_data_dir

from hf_models.cli_utils import InputError
from hf_models.gpt import GPTConfig, GPTForCausalLM
from hf_models.prompting import (
    TASKS,
    WEI_ARITHMETIC_EXEMPLARS,
    DemonstrationSampler,
    Example,
    PromptTemplate,
    accuracy_with_ci,
    build_prompt,
    build_prompts,
    cut_at_stop,
    evaluate_loglikelihood,
    extract_cot_number,
    extract_letter,
    extract_number,
    extract_word,
    extract_yes_no,
    few_shot_cot_prompts,
    format_prompt,
    generate_until,
    gsm8k_gold,
    gsm8k_hash,
    gsm8k_strict,
    loglikelihood,
    loglikelihood_tokens,
    majority_vote,
    multiple_choice_metrics,
    read_aqua,
    read_examples,
    read_gsm8k,
    read_symbolic,
    self_consistency,
    wilson_interval,
    zero_shot_cot,
)
from hf_models.prompting.data import read_glue_examples
from hf_models.tasks.causal_lm import (
    encode_pair,
    score_continuations,
    train_bpe_tokenizer,
)

CORPUS = ["the movie was great and the acting was wonderful", "a dull and boring film with bad acting",
          "Question: Is this sentence positive or negative?\nAnswer: positive", "Q: how many apples are left?\nA: 3",
          "the answer is 42 . there were 7 cats and 5 dogs in the garden"] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(CORPUS, vocab_size=300, max_length=256)


def tiny_gpt(vocab_size: int, n_positions: int = 256, seed: int = 0) -> GPTForCausalLM:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, n_positions=n_positions, n_embd=16, n_layer=2, n_head=2,
                       embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3,
                       bos_token_id=None, eos_token_id=None)
    return GPTForCausalLM(config).eval()


def tiny_llama(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         initializer_range=0.3, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def gpt(tokenizer):
    return tiny_gpt(len(tokenizer))


def qa_examples(n: int) -> list[Example]:
    return [Example({"question": f"what is {i} plus one?", "answer": str(i + 1)}, None, str(i + 1), f"toy, line {i}")
            for i in range(n)]


# ----------------------------------------------------------------------------------------------------------------------
# Prompt construction
# ----------------------------------------------------------------------------------------------------------------------
def test_prompt_text_is_lm_eval_fewshot_context():
    pool = qa_examples(3)
    template = PromptTemplate("Q: {question}\nA:", "{answer}", description="Add one.\n\n")
    text = format_prompt(pool[2], [pool[0], pool[1]], template)
    assert text == ("Add one.\n\nQ: what is 0 plus one?\nA: 1\n\nQ: what is 1 plus one?\nA: 2\n\n"
                    "Q: what is 2 plus one?\nA:")
    # other separators
    template = PromptTemplate("{question} =", "{answer}", target_delimiter="", fewshot_delimiter="\n")
    assert format_prompt(pool[2], [pool[0]], template) == "what is 0 plus one? =1\nwhat is 2 plus one? ="


def test_demonstrations_never_include_the_query():
    examples = qa_examples(6)
    # all the others: a sampler that could pick the query would have to, with k = pool - 1
    for prompt, example in zip(build_prompts(examples, PromptTemplate("{question}"), num_fewshot=5, seed=3),
                               examples):
        assert example.where not in [examples[i].where for i in prompt.demonstrations]
        assert sorted(prompt.demonstrations) == [i for i in range(6) if examples[i] is not example]
    # a copy of the query in a separate pool is the query too (lm-eval compares docs by value)
    copy = Example(dict(examples[0].fields), None, examples[0].gold, "other file, line 9")
    sampler = DemonstrationSampler([copy] + examples[1:3], seed=0)
    for _ in range(10):
        assert 0 not in sampler.sample(2, examples[0])
    with pytest.raises(InputError, match=r"toy, line 0: 3 demonstrations asked, but the pool holds only 2"):
        sampler.sample(3, examples[0])


def test_more_shots_than_the_pool_is_an_error():
    with pytest.raises(InputError, match="8 demonstrations asked, but the pool holds only 4 example"):
        build_prompts(qa_examples(5), PromptTemplate("{question}"), num_fewshot=8)


def test_seeds_reproduce_and_follow_lm_eval_sampler():
    examples, pool = qa_examples(4), qa_examples(30)[10:]
    template = PromptTemplate("{question}")
    first = [p.demonstrations for p in build_prompts(examples, template, 3, pool, seed=1234)]
    again = [p.demonstrations for p in build_prompts(examples, template, 3, pool, seed=1234)]
    other = [p.demonstrations for p in build_prompts(examples, template, 3, pool, seed=7)]
    assert first == again and first != other
    # lm-eval's ContextSampler: one Random(seed), rnd.sample(pool, k) per query in order (separate pool)
    rnd = random.Random(1234)
    assert first == [rnd.sample(range(len(pool)), 3) for _ in examples]
    # the pool holds the query: sample k + 1, drop the query, keep k
    rnd = random.Random(5)
    expected = []
    for example in examples:
        picked = rnd.sample(range(4), 3)
        expected.append([i for i in picked if examples[i] is not example][:2])
    assert [p.demonstrations for p in build_prompts(examples, template, 2, seed=5)] == expected


def test_template_with_a_missing_field_is_an_error():
    examples = qa_examples(3)
    with pytest.raises(InputError, match=r"toy, line 0: the text template '\{question\} \{context\}' uses the field "
                                         r"'context', which this example lacks \(its fields: answer, question\)"):
        build_prompts(examples, PromptTemplate("{question} {context}"))
    with pytest.raises(InputError, match="the target template .* uses the field 'rationale'"):
        build_prompts(examples, PromptTemplate("{question}", "{rationale}"), num_fewshot=1)
    with pytest.raises(InputError, match="malformed"):
        build_prompts(examples, PromptTemplate("{question"))
    # literal braces are fine
    assert build_prompts(examples[:1], PromptTemplate("{{x}} {question}"))[0].text == "{x} what is 0 plus one?"


def test_truncation_drops_demonstrations_never_the_query(tokenizer):
    examples = qa_examples(6)
    template = PromptTemplate("Q: {question}\nA:", "{answer}")
    full = build_prompts(examples[:1], template, 5, examples, tokenizer=tokenizer)[0]
    query_only = build_prompt(examples[0], template, tokenizer=tokenizer)
    limit = (full.num_tokens + query_only.num_tokens) // 2
    short = build_prompts(examples[:1], template, 5, examples, tokenizer=tokenizer, max_length=limit, reserve=3)[0]
    assert 0 < short.dropped < 5 and short.num_tokens + 3 <= limit
    assert short.text.endswith("Q: what is 0 plus one?\nA:")  # the query is whole
    assert short.demonstrations == full.demonstrations[short.dropped:]  # the farthest from the query went first
    with pytest.raises(InputError, match=r"toy, line 0: the prompt without demonstrations is \d+ tokens.*never "
                                         "truncated"):
        build_prompts(examples[:1], template, 5, examples, tokenizer=tokenizer, max_length=query_only.num_tokens - 1)


def test_chat_template_renders_the_prompt(tokenizer):
    chat_tokenizer = train_bpe_tokenizer(CORPUS, vocab_size=300)
    chat_tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</>{% endfor %}"
                                    "{% if add_generation_prompt %}<assistant>{% endif %}")
    pool = qa_examples(2)
    template = PromptTemplate("{question}", "{answer}", description="Add one.")
    assert format_prompt(pool[1], pool[:1], template, chat_tokenizer, chat=True) == \
        "<system>Add one.</><user>what is 0 plus one? 1\n\nwhat is 1 plus one?</><assistant>"
    assert format_prompt(pool[1], pool[:1], template, chat_tokenizer, chat=True, fewshot_as_multiturn=True) == \
        "<system>Add one.</><user>what is 0 plus one?</><assistant>1</><user>what is 1 plus one?</><assistant>"
    with pytest.raises(InputError, match="needs a tokenizer with a chat template"):
        format_prompt(pool[1], pool[:1], template, tokenizer, chat=True)


# ----------------------------------------------------------------------------------------------------------------------
# Scoring by log-likelihood
# ----------------------------------------------------------------------------------------------------------------------
def _requests(tokenizer):
    contexts = ["the movie was great and the acting was", "a dull film", "Q: how many apples are left?\nA:",
                "the answer is"]
    options = [" wonderful", " bad acting with boring dogs", " 3", " 42 . there were 7 cats"]
    return [(c, o) for c in contexts for o in options]


@pytest.mark.parametrize("family", ["gpt", "llama"])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_cached_prefix_scores_equal_plain_scores(tokenizer, family, batch_size):
    model = tiny_gpt(len(tokenizer)) if family == "gpt" else tiny_llama(len(tokenizer))
    requests = _requests(tokenizer)
    encoded = [encode_pair(tokenizer, c, o) for c, o in requests]
    plain = score_continuations(model, encoded, max_length=256, batch_size=4)
    cached = loglikelihood(model, tokenizer, requests, max_length=256, batch_size=batch_size)
    uncached = loglikelihood(model, tokenizer, requests, max_length=256, batch_size=batch_size, cache_prefix=False)
    for got, ref, ref2 in zip(cached, plain, uncached):
        assert got["log_likelihood"] == pytest.approx(ref["log_likelihood"], abs=1e-4)
        assert got["log_likelihood"] == pytest.approx(ref2["log_likelihood"], abs=1e-4)
        assert got["is_greedy"] == ref["is_greedy"] and got["tokens"] == ref["tokens"]
    # and one by hand: sum of log p(option token | everything before it) in one forward pass
    context, option = encoded[5]
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([context + option])).logits[0], -1)
    by_hand = sum(log_probs[len(context) - 1 + j, t].item() for j, t in enumerate(option))
    assert cached[5]["log_likelihood"] == pytest.approx(by_hand, abs=1e-4)


def test_options_run_from_one_cached_prompt(gpt, tokenizer):
    calls = []
    handle = gpt.register_forward_pre_hook(lambda module, args, kwargs: calls.append(
        (tuple((args[0] if args else kwargs["input_ids"]).shape), kwargs.get("past_key_values") is not None
         or kwargs.get("cache") is not None)), with_kwargs=True)
    try:
        requests = _requests(tokenizer)
        scores = loglikelihood(gpt, tokenizer, requests, max_length=256, batch_size=64)
    finally:
        handle.remove()
    encoded = [encode_pair(tokenizer, c, o) for c, o in requests]
    longest_context = max(len(c) for c, _ in encoded)
    longest_option = max(len(o) for _, o in encoded)
    # the four prompts once, left-padded into one batch; then the 16 options as one batch from their cache
    assert calls == [((4, longest_context), False), ((16, longest_option - 1), True)]
    assert len(scores) == 16


def test_greedy_match_is_the_argmax_continuation(gpt, tokenizer):
    context = tokenizer("the movie was")["input_ids"]
    with torch.no_grad():
        ids = list(context)
        for _ in range(3):  # the model's own greedy continuation
            ids.append(int(gpt(torch.tensor([ids])).logits[0, -1].argmax()))
    greedy, changed = ids[len(context):], ids[len(context):-1] + [(ids[-1] + 1) % len(tokenizer)]
    scores = loglikelihood_tokens(gpt, [(context, greedy), (context, changed)], max_length=256)
    assert [s["is_greedy"] for s in scores] == [True, False]


def test_too_long_requests_are_scored_as_lm_eval_truncates(gpt, tokenizer):
    requests = [encode_pair(tokenizer, c, o) for c, o in _requests(tokenizer)]
    assert max(len(c) + len(o) for c, o in requests) > 16 >= max(len(o) for _, o in requests)
    got = loglikelihood_tokens(gpt, requests, max_length=16, batch_size=3)
    ref = score_continuations(gpt, requests, max_length=16, batch_size=3)
    assert [g["log_likelihood"] for g in got] == pytest.approx([r["log_likelihood"] for r in ref], abs=1e-4)


def test_acc_norm_is_lm_eval_definition():
    # lm-eval: acc_norm = argmax(ll / len(choice)) in characters, acc_bytes by UTF-8 bytes (choices without the
    # target delimiter); the four normalisations disagree here
    options, lls, tokens = ["ab", "한"], [-2.0, -1.2], [4, 1]
    metrics = multiple_choice_metrics(lls, options, gold=0, token_counts=tokens)
    assert metrics["pred"] == 1  # -1.2 > -2.0
    assert metrics["pred_norm"] == 0  # -2/2 = -1.0 > -1.2/1
    assert metrics["pred_bytes"] == 1  # -2/2 = -1.0 < -1.2/3 = -0.4
    assert metrics["pred_tokens"] == 0  # -2/4 = -0.5 > -1.2/1
    assert (metrics["acc"], metrics["acc_norm"], metrics["acc_bytes"], metrics["acc_tokens"]) == (0.0, 1.0, 0.0, 1.0)


def test_evaluate_loglikelihood_keeps_prompts_and_scores(gpt, tokenizer):
    examples = [Example({"sentence": s}, ["negative", "positive"], g, f"toy, line {i}")
                for i, (s, g) in enumerate([("a great film", 1), ("a dull film", 0), ("bad acting", 0),
                                            ("wonderful acting", 1)])]
    template = PromptTemplate("{sentence}\nQuestion: Is this sentence positive or negative?\nAnswer:",
                              "{sentence}")  # demos' target: any field; here the sentence itself
    result = evaluate_loglikelihood(gpt, tokenizer, examples, template, num_fewshot=2, seed=0)
    assert result["examples"] == 4 and result["dropped_demonstrations"] == 0
    record = result["per_example"][0]
    assert record["prompt"].endswith("a great film\nQuestion: Is this sentence positive or negative?\nAnswer:")
    assert record["continuations"] == [" negative", " positive"]
    direct = loglikelihood(gpt, tokenizer, [(record["prompt"], " negative"), (record["prompt"], " positive")])
    assert record["log_likelihoods"] == pytest.approx([d["log_likelihood"] for d in direct], abs=1e-5)
    acc = sum(r["acc"] for r in result["per_example"]) / 4
    assert result["acc"]["value"] == acc and result["acc"]["ci_low"] <= acc <= result["acc"]["ci_high"]
    # options scored as letters (Kojima et al.'s listed choices)
    lettered = evaluate_loglikelihood(gpt, tokenizer, examples, PromptTemplate("{sentence}", choice="{letter}"))
    assert lettered["per_example"][0]["continuations"] == [" A", " B"]


# ----------------------------------------------------------------------------------------------------------------------
# Generation and answer extraction
# ----------------------------------------------------------------------------------------------------------------------
def test_answer_extraction():
    assert extract_number("She pays $1,234.50 then 7 more.") == "7"
    assert extract_number("She pays $1,234.50 then 7 more.", "first") == "1234.5"
    assert extract_number("no digits") == ""
    assert extract_cot_number("5 + 4 = 9. The answer is 9. Then 12 more") == "9"  # after the trigger
    assert extract_cot_number("5 + 4 = 9 so 10") == "10"  # no trigger: the last number
    assert gsm8k_strict("so 23 - 15 is 8. The answer is 1,008.") == "1008"
    assert gsm8k_strict("The answer: 8") == ""
    # lm-eval's gsm8k strict-match: GSM8K's own "#### N" answer line, the first one
    assert gsm8k_hash("5 bags x 3 = 15\n#### 1,015\n\n#### 7") == "1015" and gsm8k_hash("The answer is 8.") == ""
    assert extract_letter(" (C) 7(√3 – 1)") == "C"
    assert extract_letter("the answer is B.") == "B"
    assert extract_letter("answer is F", "ABCDE") == ""
    assert extract_yes_no(" Yes, it is.") == "yes" and extract_yes_no(" nothing") == ""
    assert extract_word(' "yajo".\nmore') == "yajo"
    assert cut_at_stop("42\n\nQ: next", ["\n\n", "Q:"]) == "42"


def test_gsm8k_gold_and_errors(tmp_path):
    assert gsm8k_gold("so 2 + 2 = <<2+2=4>>4\n#### 1,004") == "1004"
    bad = tmp_path / "gsm.jsonl"
    bad.write_text('{"question": "q", "answer": "4\\n#### 4"}\n{"question": "q2", "answer": "no final line"}\n')
    with pytest.raises(InputError, match=r"gsm.jsonl, line 2, field 'answer': the answer has no '#### N'"):
        read_gsm8k(bad)
    bad.write_text('{"question": "q", "answer": "#### 4"}\n{"question": "q2"\n')
    with pytest.raises(InputError, match=r"gsm.jsonl, line 2: not a JSON object"):
        read_gsm8k(bad)
    bad.write_text('{"query": "q", "answer": "#### 4"}\n')
    with pytest.raises(InputError, match=r"gsm.jsonl, line 1: no field 'question'"):
        read_gsm8k(bad)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_batched_generation_equals_one_at_a_time_and_stops(tokenizer, family):
    gpt = tiny_gpt(len(tokenizer)) if family == "gpt" else tiny_llama(len(tokenizer))
    prompts = ["the movie was", "Q: how many apples are left?\nA:", "a dull and boring film with"]
    batched = generate_until(gpt, tokenizer, prompts, stop=[], max_new_tokens=6, batch_size=3)
    alone = [generate_until(gpt, tokenizer, [p], stop=[], max_new_tokens=6)[0] for p in prompts]
    assert batched == alone
    with torch.no_grad():  # greedy by hand for the first prompt
        ids = tokenizer(prompts[0])["input_ids"]
        for _ in range(6):
            ids.append(int(gpt(torch.tensor([ids])).logits[0, -1].argmax()))
    assert batched[0][0] == tokenizer.decode(ids[len(tokenizer(prompts[0])["input_ids"]):])
    text = batched[0][0]
    stop = text[2:4]  # a stop sequence inside the generation cuts it there
    assert generate_until(gpt, tokenizer, prompts[:1], stop=[stop], max_new_tokens=6)[0][0] == \
        text[:text.find(stop)]


def test_majority_vote():
    assert majority_vote(["3", "5", "5", "", "3", "5"]) == "5"
    assert majority_vote(["7", "3", "3", "7"]) == "7"  # a tie goes to the answer reached first
    assert majority_vote(["", ""]) == ""


def test_self_consistency_samples_and_votes(gpt, tokenizer):
    examples = qa_examples(2)
    prompts = [f"Q: {e.fields['question']}\nA:" for e in examples]
    result = self_consistency(gpt, tokenizer, examples, prompts, num_samples=4, max_new_tokens=5, seed=1,
                              extractor=lambda text: text.strip()[:1])
    again = self_consistency(gpt, tokenizer, examples, prompts, num_samples=4, max_new_tokens=5, seed=1,
                             extractor=lambda text: text.strip()[:1])
    record = result["per_example"][0]
    assert len(record["generations"]) == 4 and record["prediction"] == majority_vote(record["answers"])
    assert len(set(record["generations"])) > 1  # sampled, not four greedy copies
    assert result["per_example"] == again["per_example"]  # the seed reproduces the chains


def test_zero_shot_cot_two_stages(gpt, tokenizer):
    examples = qa_examples(2)
    result = zero_shot_cot(gpt, tokenizer, examples, "number", max_reasoning_tokens=5, max_answer_tokens=3)
    record = result["per_example"][1]
    assert record["prompt"] == "Q: what is 1 plus one?\nA: Let's think step by step."
    assert record["answer_prompt"] == (record["prompt"] + record["reasoning"]
                                       + " \nTherefore, the answer (arabic numerals) is")
    assert record["generation"] == generate_until(gpt, tokenizer, [record["answer_prompt"]], ["\n\n", "\nQ:"], 3)[0][0]
    assert record["prediction"] == extract_number(record["generation"], "first")


def test_wei_exemplars_and_few_shot_cot_prompt():
    assert len(WEI_ARITHMETIC_EXEMPLARS) == 8
    prompt = few_shot_cot_prompts(qa_examples(1))[0].text
    assert prompt.startswith("Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. "
                             "After they are done, there will be 21 trees. How many trees did the grove workers plant "
                             "today?\nA: There are 15 trees originally. Then there were 21 trees after some more were "
                             "planted. So there must have been 21 - 15 = 6. The answer is 6.\n\nQ: If there are 3 cars")
    assert "23 - 15 is 8. The answer is 8.\n\nQ: what is 0 plus one?\nA:" in prompt
    assert prompt.count("The answer is") == 8
    standard = few_shot_cot_prompts(qa_examples(1), num_fewshot=2, chain_of_thought=False)[0].text
    assert standard.startswith("Q: There are 15 trees") and "A: The answer is 6.\n\nQ: If there are 3 cars" in standard


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # the textbook 8/10 at 95%
    assert wilson_interval(0, 5)[0] == pytest.approx(0.0, abs=1e-12) and wilson_interval(5, 5)[1] == pytest.approx(1.0)
    result = accuracy_with_ci([1, 0, 1, 1], method="bootstrap", seed=0)
    assert result["value"] == 0.75 and 0.0 <= result["ci_low"] <= 0.75 <= result["ci_high"] <= 1.0
    with pytest.raises(InputError, match="0/1 scores"):
        accuracy_with_ci([0.5, 1.0])


# ----------------------------------------------------------------------------------------------------------------------
# Readers: user files, and the real files
# ----------------------------------------------------------------------------------------------------------------------
def test_read_user_files(tmp_path):
    jsonl = tmp_path / "mc.jsonl"
    jsonl.write_text(json.dumps({"q": "2+2?", "opts": ["3", "4"], "gold": "B"}) + "\n\n"
                     + json.dumps({"q": "1+1?", "opts": ["2", "5"], "gold": 0}) + "\n")
    examples = read_examples(jsonl, ["q"], "gold", options_field="opts")
    assert [(e.options, e.gold, e.where) for e in examples] == [(["3", "4"], 1, f"{jsonl}, line 1"),
                                                                 (["2", "5"], 0, f"{jsonl}, line 3")]
    assert examples[0].fields["choices"] == "Answer Choices: (A) 3 (B) 4"
    tsv = tmp_path / "cls.tsv"
    tsv.write_text("text\tlabel\ngood film\tpositive\nbad film\tnegative\n")
    examples = read_examples(tsv, ["text"], "label", options=["negative", "positive"])
    assert [e.gold for e in examples] == [1, 0] and examples[1].where == f"{tsv}, line 3"
    tsv.write_text("text\tlabel\ngood film\tgreat\n")
    with pytest.raises(InputError, match=r"cls.tsv, line 2, field 'label': 'great' is neither one of the options"):
        read_examples(tsv, ["text"], "label", options=["negative", "positive"])
    tsv.write_text("text\tlabel\ngood\tfilm\tpositive\n")
    with pytest.raises(InputError, match=r"cls.tsv, line 2: 3 tab-separated fields, but the header has 2"):
        read_examples(tsv, ["text"], "label")
    data = tmp_path / "gen.json"
    data.write_text(json.dumps({"examples": [{"question": "q", "answer": 4}, {"question": "q2"}]}))
    with pytest.raises(InputError, match=r"gen.json, example 1: no field 'answer'"):
        read_examples(data, ["question"], "answer")


def test_reader_errors_name_file_line_and_field(tmp_path):
    aqua = tmp_path / "aqua.json"
    aqua.write_text(json.dumps({"question": "q", "options": ["A)1", "B)2"], "correct": "C"}) + "\n")
    with pytest.raises(InputError, match=r"aqua.json, line 1: field 'correct' must be one of A, B, got 'C'"):
        read_aqua(aqua)
    symbolic = tmp_path / "coin.json"
    symbolic.write_text(json.dumps({"examples": [{"question": "q", "answer": ""}]}))
    with pytest.raises(InputError, match=r"coin.json, example 0: field 'answer' is empty"):
        read_symbolic(symbolic)


def test_glue_sample_file_reads_with_verbalizers():
    from pathlib import Path

    import hf_models

    sample = Path(hf_models.__file__).parent / "data" / "sst2_dev.tsv"
    examples = read_glue_examples(sample, "sst2")
    assert len(examples) == 872 and examples[0].options == ["negative", "positive"] and examples[0].gold == 1
    assert examples[0].fields["answer"] == "positive"


EXPECTED_COUNTS = {"gsm8k": 1319, "multiarith": 600, "addsub": 395, "singleeq": 508, "aqua": 254,
                   "strategyqa": 2290, "commonsenseqa": 1221, "date": 369, "coin_flip": 500, "last_letters": 500,
                   "lambada": 5153, "sst2": 872, "rte": 277}


@requires_shared_data
@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_real_files_read_with_manifest_counts(name):
    task = TASKS[name]
    examples = task.read(shared_data_dir())
    assert len(examples) == EXPECTED_COUNTS[name]
    for example in examples:
        if example.options is not None:
            assert 0 <= example.gold < len(example.options)
        else:
            assert str(example.gold).strip()
    # every example renders with the task's template (demonstration and query)
    build_prompts(examples[:50], task.template, num_fewshot=2, seed=0)
    if name == "date":  # shuffled (the file lists the gold first): the gold is not always option A
        assert len({e.gold for e in examples}) > 3


@requires_shared_data
def test_gsm8k_answers_extract_to_their_gold():
    examples = TASKS["gsm8k"].read(shared_data_dir())
    # the last number of each worked solution is its "#### N" answer: the extraction and the gold agree on all 1319
    assert all(extract_number(e.fields["answer"]) == e.gold for e in examples)
    assert all(extract_cot_number(e.fields["answer"].replace("####", "The answer is")) == e.gold for e in examples)
    assert examples[0].gold == "18"
    with_commas = [e for e in examples if "," in e.fields["answer"].split("####")[-1]]
    assert with_commas and all("," not in e.gold for e in with_commas)  # "#### 1,600" -> "1600"
    train = TASKS["gsm8k"].read(shared_data_dir(), "pool")
    assert len(train) == 7473
