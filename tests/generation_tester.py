"""The generation-tester mixin every generative family of hf_models reuses (RNN LM and Seq2Seq now; the decoder-only
and encoder-decoder Transformers, GPT and T5 later, with DynamicCache / EncoderDecoderCache).

A family writes a small "generation tester" (a tiny config and a few prompts) and a test class that mixes in
`GenerationTesterMixin`; every test below then runs once per class of `all_generative_model_classes` (the test id
names the class). The references are written here, independently of transformers' generation code: they recompute
the whole prefix with a plain forward (no cache) at every step.

What a family's test class provides
-----------------------------------
- `all_generative_model_classes`: the `GenerationMixin` classes to test.
- `generation_tester_class`: a class whose instances (built with no arguments) have
    - `get_config()` -> a tiny config; its `is_encoder_decoder` decides how the model is driven,
    - `prompts(config)` -> a list of at least two 1-D LongTensors of *different* lengths, without padding: the
      prompts of a decoder-only model, or the source sentences of an encoder-decoder.
  The vocabulary (target vocabulary) must have at least 2 * `num_beams` tokens.

Optional class attributes: `max_new_tokens` (6), `num_beams` (3), `prompt_padding_side` ("left": batched prompts
of a decoder-only model), `source_padding_side` ("right": batched sources of an encoder-decoder), `logits_atol`
(1e-5: cached vs full-recomputation logits), `score_atol` (1e-4: beam scores vs the reference's).

The tests set `model.generation_config.eos_token_id` themselves (None: fixed-length decoding; or a token the model
does produce) and `pad_token_id` (the config's, else 0).

A family's whole generation suite, for example::

    class RnnGenerationTester:
        def get_config(self):
            return RnnConfig(vocab_size=11, hidden_size=16, initializer_range=1.0)

        def prompts(self, config):
            generator = torch.Generator().manual_seed(7)
            return [torch.randint(1, config.vocab_size, (n,), generator=generator) for n in (5, 2, 4)]

    class TestRnnGeneration(GenerationTesterMixin):
        all_generative_model_classes = (RnnForCausalLM,)
        generation_tester_class = RnnGenerationTester

Give the tiny model wide initial weights: near-uniform next-token distributions make near-ties that say nothing.

Hooks a family may override (defaults drive the usual transformers signatures):
- `_decoder_ids_name(config)`: the forward argument that carries the tokens being decoded ("decoder_input_ids" for
  an encoder-decoder, "input_ids" otherwise),
- `_full_forward_inputs(model, prompt, prefixes)`: the inputs of a no-cache forward over prompt + each prefix,
- `_first_step_inputs(model, batch)` / `_next_step_inputs(model, batch, tokens, cache_name, state)`: a hand-written
  cached decoding loop (used to check both cache keyword names).

What is checked, for every generative class
-------------------------------------------
(a) greedy `generate()` equals an argmax loop that recomputes the whole prefix each step (fixed length, and with an
    EOS that is actually produced: finished rows are then padded);
(b) beam search equals `reference_beam_search` below: the same candidates (2 * num_beams per step), the same
    `length_penalty` (score = sum of log-probabilities / generated_length ** length_penalty) and the same
    `early_stopping` semantics as transformers' beam search (True: stop when num_beams hypotheses are finished;
    False: stop when the best running beam, scored at the current length, cannot beat the worst finished one;
    "never": the same with the maximal length when length_penalty > 0); compared are every returned hypothesis and
    its `sequences_scores`, for fixed-length decoding and four EOS settings (early_stopping True / False / "never",
    length_penalty 0.5), each with an EOS chosen so that the setting changes the reference's answer against a foil
    (True vs False, "never" vs False, 0.5 vs 1.0): a search that ignored the rule would fail;
(c) cached decoding equals `use_cache=False` for greedy, beam search and sampling (same seed);
(d) a padded batch (left-padded prompts, or right-padded sources) gives each prompt's continuation alone;
(e) with the cache, every forward after the first receives exactly one new token per sequence (a forward pre-hook
    records what generate() feeds), the state under the installed transformers' cache name, and an encoder-decoder
    runs its encoder once; without the cache, the whole prefix each step;
(f) `num_return_sequences` with beam search (the top ones of (b), in order) and with sampling (the shape, the
    prompts repeated);
(g) both cache keywords of transformers 5.x: `forward` accepts the state as `past_key_values` (before 5.24) and as
    `cache` (5.24+), refuses two different states at once, returns it under the installed version's name, and a
    decoding loop driven by either name gives the tokens of `generate()`.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any, ClassVar

import pytest
import torch
from transformers.modeling_outputs import CausalLMOutputWithPast

# transformers 5.24 renamed the cache keyword of forward()/generate() and the outputs' field: past_key_values -> cache
INSTALLED_CACHE_NAME = (
    "cache" if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {}) else "past_key_values"
)
CACHE_NAMES = ("past_key_values", "cache")


# ----------------------------------------------------------------------------------------------------------------------
# The independent reference: beam search without a cache, with transformers' scoring and stopping rules
# ----------------------------------------------------------------------------------------------------------------------
def reference_beam_search(next_log_probs, num_beams: int, max_new_tokens: int, eos_token_id: int | None,
                          length_penalty: float = 1.0, early_stopping: bool | str = False):
    """Beam search over `next_log_probs(prefixes) -> (len(prefixes), vocab)` log-probabilities (one full recomputation
    per step, no cache). Returns the finished hypotheses, best first: [(score, generated tokens), ...].

    Every step expands every running beam by every token and keeps the 2 * num_beams best candidates. Those among the
    best num_beams that end with EOS (or reach max_new_tokens) are finished, scored sum(log p) / length **
    length_penalty (length = generated tokens, EOS included); the best num_beams of all finished ones are kept. The
    next running beams are the best num_beams candidates that did not finish. Stopping follows `early_stopping` as in
    transformers (see the module docstring).
    """
    running: list[tuple[float, list[int]]] = [(0.0, [])]
    finished: list[tuple[float, list[int]]] = []
    for step in range(max_new_tokens):
        length = step + 1
        log_probs = next_log_probs([tokens for _, tokens in running])  # (beams, vocab)
        candidates = [(score + float(log_probs[b, v]), tokens + [v])
                      for b, (score, tokens) in enumerate(running) for v in range(log_probs.shape[1])]
        candidates.sort(key=lambda c: -c[0])
        candidates = candidates[: 2 * num_beams]
        last = length == max_new_tokens
        ends = [last or (eos_token_id is not None and tokens[-1] == eos_token_id) for _, tokens in candidates]
        full_before = len(finished) == num_beams
        if not (full_before and early_stopping is True):
            finished += [(score / length**length_penalty, tokens)
                         for rank, ((score, tokens), end) in enumerate(zip(candidates, ends))
                         if end and rank < num_beams]
            finished = sorted(finished, key=lambda c: -c[0])[:num_beams]
        running = [c for c, end in zip(candidates, ends) if not end][:num_beams]
        if last:
            break
        if len(finished) == num_beams:
            if early_stopping is True:
                break
            hypothetical = max_new_tokens if (early_stopping == "never" and length_penalty > 0.0) else length
            if not running[0][0] / hypothetical**length_penalty > finished[-1][0]:
                break
    return finished


# ----------------------------------------------------------------------------------------------------------------------
# The mixin
# ----------------------------------------------------------------------------------------------------------------------
class GenerationTesterMixin:
    all_generative_model_classes: tuple = ()
    generation_tester_class: type | None = None

    max_new_tokens = 6
    num_beams = 3
    prompt_padding_side = "left"
    source_padding_side = "right"
    logits_atol = 1e-5
    score_atol = 1e-4

    # --- pytest plumbing ----------------------------------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        """Run every test that takes `generative_class` once per class of `all_generative_model_classes`."""
        if "generative_class" in metafunc.fixturenames:
            classes = list(self.all_generative_model_classes)
            assert classes, f"{type(self).__name__}.all_generative_model_classes is empty"
            metafunc.parametrize("generative_class", classes, ids=[c.__name__ for c in classes])
        parent = getattr(super(), "pytest_generate_tests", None)
        if parent is not None:  # cooperate with ModelTesterMixin in the same test class
            parent(metafunc)

    @property
    def generation_tester(self):
        if "_generation_tester" not in self.__dict__:
            assert self.generation_tester_class is not None, f"{type(self).__name__} must set generation_tester_class"
            self.__dict__["_generation_tester"] = self.generation_tester_class()
        return self.__dict__["_generation_tester"]

    # --- hooks --------------------------------------------------------------------------------------------------------
    def _decoder_ids_name(self, config) -> str:
        return "decoder_input_ids" if config.is_encoder_decoder else "input_ids"

    def _full_forward_inputs(self, model, prompt: torch.Tensor, prefixes: list[list[int]]) -> dict:
        """A batch of len(prefixes) rows: the prompt followed by each prefix (decoder-only), or the source and the
        decoder start followed by each prefix (encoder-decoder). No cache."""
        n = len(prefixes)
        if model.config.is_encoder_decoder:
            start = self._decoder_start(model)
            return {"input_ids": prompt[None].expand(n, -1), "use_cache": False,
                    "decoder_input_ids": torch.tensor([[start] + p for p in prefixes], dtype=torch.long)}
        return {"input_ids": torch.tensor([prompt.tolist() + p for p in prefixes], dtype=torch.long),
                "use_cache": False}

    def _first_step_inputs(self, model, batch: dict) -> dict:
        if model.config.is_encoder_decoder:
            encoder_outputs = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                                  return_dict=True)
            start = torch.full((batch["input_ids"].shape[0], 1), self._decoder_start(model), dtype=torch.long)
            return {"encoder_outputs": encoder_outputs, "attention_mask": batch["attention_mask"],
                    "decoder_input_ids": start, "use_cache": True}
        return {"input_ids": batch["input_ids"], "use_cache": True}

    def _next_step_inputs(self, model, first_inputs: dict, tokens: torch.Tensor, cache_name: str, state) -> dict:
        inputs = {k: v for k, v in first_inputs.items() if k not in ("input_ids", "decoder_input_ids")}
        inputs[self._decoder_ids_name(model.config)] = tokens[:, None]
        inputs[cache_name] = state
        return inputs

    # --- helpers ------------------------------------------------------------------------------------------------------
    def _model_and_prompts(self, generative_class, eos: str | None = None):
        """A fresh tiny model in eval mode and its prompts. `eos`: None (no EOS: fixed-length decoding), or "hit" (an
        EOS that the model does produce: the token its fixed-length beams use most)."""
        tester = self.generation_tester
        config = tester.get_config()
        model = generative_class(config).eval()
        prompts = [p.clone() for p in tester.prompts(config)]
        assert len(prompts) >= 2 and len({len(p) for p in prompts}) > 1, "give prompts of different lengths"
        vocab = model.get_output_embeddings().weight.shape[0]
        assert vocab >= 2 * self.num_beams, "the reference beam search needs a vocabulary of at least 2 * num_beams"
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = self._pad_id(model)
        if eos == "hit":
            model.generation_config.eos_token_id = self._frequent_token(model, prompts)
        return model, prompts

    def _pad_id(self, model) -> int:
        for value in (model.generation_config.pad_token_id, model.config.pad_token_id):
            if value is not None:
                return int(value)
        return 0

    def _decoder_start(self, model) -> int:
        for value in (model.generation_config.decoder_start_token_id,
                      getattr(model.config, "decoder_start_token_id", None), model.generation_config.bos_token_id):
            if value is not None:
                return int(value)
        raise AssertionError("the encoder-decoder has no decoder_start_token_id")

    def _eos_candidates(self, model, prompts) -> list[int]:
        """The tokens the fixed-length reference beams generate, most frequent first (not padding nor the start)."""
        counts = Counter()
        for prompt in prompts:
            for _, tokens in self._reference_beams(model, prompt, None, 1.0, False):
                counts.update(tokens)
        excluded = {self._pad_id(model)}
        if model.config.is_encoder_decoder:
            excluded.add(self._decoder_start(model))
        candidates = [t for t, _ in counts.most_common() if t not in excluded]
        assert candidates, "the model generates nothing but padding"
        return candidates

    def _frequent_token(self, model, prompts) -> int:
        """The token the fixed-length reference beams generate most often: an EOS that is sure to be produced."""
        return self._eos_candidates(model, prompts)[0]

    def _distinguishing_eos(self, model, prompts, setting: tuple, foil: tuple) -> int:
        """An EOS for which the reference beam search under `setting` (length_penalty, early_stopping) returns other
        hypotheses than under `foil`: the test then depends on that rule, not only on the rest of the search."""
        vocab = model.get_output_embeddings().weight.shape[0]
        candidates = self._eos_candidates(model, prompts)
        excluded = {self._pad_id(model)} | ({self._decoder_start(model)} if model.config.is_encoder_decoder else set())
        candidates += [t for t in range(vocab) if t not in candidates and t not in excluded]
        for eos in candidates:
            for prompt in prompts:
                case = self._reference_beams(model, prompt, eos, *setting)
                other = self._reference_beams(model, prompt, eos, *foil)
                if [t for _, t in case] != [t for _, t in other]:
                    return eos
        raise AssertionError(f"no EOS makes (length_penalty, early_stopping)={setting} return other hypotheses than "
                             f"{foil} for these prompts: give other prompts (or a larger max_new_tokens)")

    def _batch(self, model, prompts) -> dict:
        """Pad the prompts into one batch (left for decoder-only prompts, right for sources) with an attention mask."""
        side = self.source_padding_side if model.config.is_encoder_decoder else self.prompt_padding_side
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self._pad_id(model), dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            span = slice(width - len(p), width) if side == "left" else slice(0, len(p))
            ids[i, span], mask[i, span] = p, 1
        return {"input_ids": ids, "attention_mask": mask}

    def _generate(self, model, batch: dict, **kwargs):
        kwargs.setdefault("max_new_tokens", self.max_new_tokens)
        kwargs.setdefault("do_sample", False)
        with torch.no_grad():
            return model.generate(**batch, **kwargs)

    def _continuation(self, model, batch: dict, sequences: torch.Tensor, row: int) -> list[int]:
        """The generated tokens of one output row (after the padded prompt, or after the decoder start)."""
        skip = 1 if model.config.is_encoder_decoder else batch["input_ids"].shape[1]
        return sequences[row, skip:].tolist()

    def _next_log_probs(self, model, prompt: torch.Tensor):
        def next_log_probs(prefixes: list[list[int]]) -> torch.Tensor:
            with torch.no_grad():
                logits = model(**self._full_forward_inputs(model, prompt, prefixes)).logits
            return logits[:, -1].float().log_softmax(-1)

        return next_log_probs

    def _reference_greedy(self, model, prompt) -> list[int]:
        eos = model.generation_config.eos_token_id
        step, tokens = self._next_log_probs(model, prompt), []
        for _ in range(self.max_new_tokens):
            tokens.append(int(step([tokens])[0].argmax()))
            if tokens[-1] == eos:
                break
        return tokens

    def _reference_beams(self, model, prompt, eos, length_penalty, early_stopping):
        return reference_beam_search(self._next_log_probs(model, prompt), self.num_beams, self.max_new_tokens, eos,
                                     length_penalty, early_stopping)

    def _assert_greedy_rows(self, model, batch, sequences, prompts, what: str):
        pad = self._pad_id(model)
        width = sequences.shape[1] - (1 if model.config.is_encoder_decoder else batch["input_ids"].shape[1])
        for i, prompt in enumerate(prompts):
            expected = self._reference_greedy(model, prompt)
            expected = expected + [pad] * (width - len(expected))  # finished rows are padded
            got = self._continuation(model, batch, sequences, i)
            assert got == expected, f"{what}: prompt {i}: generate() gave {got}, the recomputation {expected}"

    # ------------------------------------------------------------------------------------------------------------------
    # (a) greedy = no-cache argmax recomputation
    # ------------------------------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("eos", [None, "hit"], ids=["fixed_length", "eos"])
    def test_greedy_equals_recomputation(self, generative_class, eos):
        """Greedy generate() on a padded batch gives, for every prompt, the argmax loop that recomputes the whole
        prefix without a cache at every step (finished rows padded after EOS)."""
        model, prompts = self._model_and_prompts(generative_class, eos)
        batch = self._batch(model, prompts)
        sequences = self._generate(model, batch, num_beams=1)
        self._assert_greedy_rows(model, batch, sequences, prompts, "greedy")
        if eos == "hit":
            eos_id = model.generation_config.eos_token_id
            assert any(eos_id in self._continuation(model, batch, sequences, i) for i in range(len(prompts))), (
                "no greedy row produced the EOS: the EOS case tests nothing"
            )
        else:
            generated = {t for i in range(len(prompts)) for t in self._continuation(model, batch, sequences, i)}
            assert len(generated) > 1, "degenerate model: every generated token is the same"

    # ------------------------------------------------------------------------------------------------------------------
    # (b) beam search = independent no-cache beam search with transformers' scoring and stopping
    # ------------------------------------------------------------------------------------------------------------------
    # case -> ((length_penalty, early_stopping), the foil whose reference must return other hypotheses, or None for
    # fixed-length decoding without EOS)
    BEAM_CASES: ClassVar[dict] = {
        "fixed_length": ((1.0, False), None),
        "eos-early_stopping_true": ((1.0, True), (1.0, False)),
        "eos-early_stopping_false": ((1.0, False), (1.0, True)),
        "eos-early_stopping_never-lp2": ((2.0, "never"), (2.0, False)),
        "eos-length_penalty0.5": ((0.5, False), (1.0, False)),
    }

    @pytest.mark.parametrize("case", list(BEAM_CASES))
    def test_beam_search_equals_reference(self, generative_class, case):
        """Every returned hypothesis (num_return_sequences = num_beams), in order, and its score equal the reference
        beam search's. With EOS, the EOS is chosen so that the case's rule (stopping, length penalty) changes the
        reference's result: a search that ignored the rule would fail."""
        (length_penalty, early_stopping), foil = self.BEAM_CASES[case]
        model, prompts = self._model_and_prompts(generative_class)
        if foil is not None:
            model.generation_config.eos_token_id = self._distinguishing_eos(model, prompts,
                                                                            (length_penalty, early_stopping), foil)
        batch = self._batch(model, prompts)
        k = self.num_beams
        out = self._generate(model, batch, num_beams=k, num_return_sequences=k, length_penalty=length_penalty,
                             early_stopping=early_stopping, output_scores=True, return_dict_in_generate=True)
        assert out.sequences.shape[0] == len(prompts) * k and out.sequences_scores.shape == (len(prompts) * k,)
        eos_id = model.generation_config.eos_token_id
        for i, prompt in enumerate(prompts):
            reference = self._reference_beams(model, prompt, eos_id, length_penalty, early_stopping)
            assert len(reference) == k
            for r, (score, tokens) in enumerate(reference):
                row = i * k + r
                got = self._continuation(model, batch, out.sequences, row)[: len(tokens)]
                assert got == tokens, f"prompt {i}, beam {r}: generate() gave {got}, the reference {tokens}"
                got_score = float(out.sequences_scores[row])
                assert abs(got_score - score) <= self.score_atol, (
                    f"prompt {i}, beam {r}: score {got_score:.6f}, the reference {score:.6f}"
                )

    # ------------------------------------------------------------------------------------------------------------------
    # (c) cached = uncached
    # ------------------------------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("mode", ["greedy", "beam", "sample"])
    def test_cached_equals_uncached(self, generative_class, mode):
        """generate() with the cache equals generate(use_cache=False): greedy, beam search, and sampling from the
        same seed (two samples per prompt); EOS on, so finished rows and beams are exercised too."""
        model, prompts = self._model_and_prompts(generative_class, "hit")
        batch = self._batch(model, prompts)
        kwargs = {"greedy": {"num_beams": 1},
                  "beam": {"num_beams": self.num_beams, "num_return_sequences": 2, "output_scores": True,
                           "return_dict_in_generate": True},
                  "sample": {"do_sample": True, "num_return_sequences": 2}}[mode]
        results = []
        for use_cache in (True, False):
            torch.manual_seed(1234)
            results.append(self._generate(model, batch, use_cache=use_cache, **kwargs))
        cached, uncached = results
        if mode == "beam":
            assert torch.equal(cached.sequences, uncached.sequences)
            torch.testing.assert_close(cached.sequences_scores, uncached.sequences_scores, atol=self.score_atol, rtol=0)
        else:
            assert torch.equal(cached, uncached), f"{mode}: cached {cached.tolist()} vs uncached {uncached.tolist()}"

    # ------------------------------------------------------------------------------------------------------------------
    # (d) padded batch = each prompt alone
    # ------------------------------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("mode", ["greedy", "beam"])
    def test_padded_batch_equals_each_prompt_alone(self, generative_class, mode):
        """Left-padded prompts (decoder-only) or right-padded sources (encoder-decoder) continue exactly as each one
        alone, without padding."""
        model, prompts = self._model_and_prompts(generative_class)
        batch = self._batch(model, prompts)
        assert not bool(batch["attention_mask"].bool().all()), "the batch is not padded"
        kwargs = {"num_beams": 1} if mode == "greedy" else {"num_beams": self.num_beams}
        batched = self._generate(model, batch, **kwargs)
        for i, prompt in enumerate(prompts):
            alone_batch = {"input_ids": prompt[None], "attention_mask": torch.ones(1, len(prompt), dtype=torch.long)}
            alone = self._generate(model, alone_batch, **kwargs)
            got = self._continuation(model, batch, batched, i)
            expected = self._continuation(model, alone_batch, alone, 0)
            assert got == expected, f"{mode}: prompt {i} in the padded batch gave {got}, alone {expected}"

    # ------------------------------------------------------------------------------------------------------------------
    # (e) one new token per step with the cache
    # ------------------------------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no_cache"])
    @pytest.mark.parametrize("mode", ["greedy", "beam"])
    def test_forward_receives_one_new_token_per_step(self, generative_class, mode, use_cache):
        """A forward pre-hook records what generate() feeds the model: with the cache, the prompt (or the decoder
        start) once, then one token per sequence and the state under the installed cache name; without it, the whole
        prefix each step. An encoder-decoder encodes the source once."""
        model, prompts = self._model_and_prompts(generative_class)
        batch = self._batch(model, prompts)
        beams = self.num_beams if mode == "beam" else 1
        name, other = INSTALLED_CACHE_NAME, next(n for n in CACHE_NAMES if n != INSTALLED_CACHE_NAME)
        ids_name = self._decoder_ids_name(model.config)
        calls: list[dict[str, Any]] = []
        encoder_calls = []

        def record(module, args, kwargs):
            ids = kwargs.get(ids_name)
            assert ids is not None, f"generate() called forward without {ids_name} (args {len(args)})"
            calls.append({"shape": tuple(ids.shape), "state": kwargs.get(name), "other": kwargs.get(other)})

        handles = [model.register_forward_pre_hook(record, with_kwargs=True)]
        if model.config.is_encoder_decoder:
            handles.append(model.get_encoder().register_forward_hook(lambda *a: encoder_calls.append(1)))
        try:
            self._generate(model, batch, num_beams=beams, use_cache=use_cache)
        finally:
            for handle in handles:
                handle.remove()

        first = 1 if model.config.is_encoder_decoder else batch["input_ids"].shape[1]
        rows = len(prompts) * beams
        expected = [(rows, 1 if (use_cache and step > 0) else first + step) for step in range(self.max_new_tokens)]
        assert [c["shape"] for c in calls] == expected, f"forward received {[c['shape'] for c in calls]}"
        assert all(c["other"] is None for c in calls), f"generate() passed the state as {other!r}"
        if use_cache:
            assert all(c["state"] is not None for c in calls[1:]), f"a step after the first got no {name!r}"
        if model.config.is_encoder_decoder:
            assert len(encoder_calls) == 1, f"the encoder ran {len(encoder_calls)} times"

    # ------------------------------------------------------------------------------------------------------------------
    # (f) num_return_sequences
    # ------------------------------------------------------------------------------------------------------------------
    def test_num_return_sequences(self, generative_class):
        """Beam search returns the best num_return_sequences hypotheses of the reference, in order; sampling returns
        num_return_sequences rows per prompt, each continuing its own prompt."""
        model, prompts = self._model_and_prompts(generative_class, "hit")
        batch = self._batch(model, prompts)
        n, k = 2, self.num_beams
        out = self._generate(model, batch, num_beams=k, num_return_sequences=n, length_penalty=1.0,
                             early_stopping=False, output_scores=True, return_dict_in_generate=True)
        assert out.sequences.shape[0] == len(prompts) * n and out.sequences_scores.shape == (len(prompts) * n,)
        eos_id = model.generation_config.eos_token_id
        for i, prompt in enumerate(prompts):
            reference = self._reference_beams(model, prompt, eos_id, 1.0, False)
            for r in range(n):
                score, tokens = reference[r]
                assert self._continuation(model, batch, out.sequences, i * n + r)[: len(tokens)] == tokens
                assert abs(float(out.sequences_scores[i * n + r]) - score) <= self.score_atol

        torch.manual_seed(0)
        sampled = self._generate(model, batch, do_sample=True, num_return_sequences=3)
        assert sampled.shape[0] == len(prompts) * 3
        assert sampled.shape[1] <= (1 if model.config.is_encoder_decoder else batch["input_ids"].shape[1]) + \
            self.max_new_tokens
        if model.config.is_encoder_decoder:
            assert bool((sampled[:, 0] == self._decoder_start(model)).all())
        else:
            width = batch["input_ids"].shape[1]
            assert torch.equal(sampled[:, :width], batch["input_ids"].repeat_interleave(3, dim=0))

    # ------------------------------------------------------------------------------------------------------------------
    # (g) both cache names of transformers 5.x
    # ------------------------------------------------------------------------------------------------------------------
    def test_both_cache_names(self, generative_class):
        """forward() takes the state as `past_key_values` and as `cache` with the same result (the next-token logits of
        a full recomputation), returns it under the installed transformers' name only, refuses two different states,
        and a greedy loop driven by either name reproduces generate()."""
        model, prompts = self._model_and_prompts(generative_class)
        width = min(len(p) for p in prompts)
        batch = {"input_ids": torch.stack([p[:width] for p in prompts]),
                 "attention_mask": torch.ones(len(prompts), width, dtype=torch.long)}
        first_inputs = self._first_step_inputs(model, batch)
        with torch.no_grad():
            first = model(**first_inputs)
        # keys(), not `in first`: ModelOutput.__contains__ maps the old name to the new one
        returned = list(first.keys())
        assert INSTALLED_CACHE_NAME in returned, f"the state is not returned as {INSTALLED_CACHE_NAME!r}: {returned}"
        for name in CACHE_NAMES:
            if name != INSTALLED_CACHE_NAME:
                assert name not in type(first).__dataclass_fields__, f"the output declares the old field {name!r}"
        state = first[INSTALLED_CACHE_NAME]
        tokens = first.logits[:, -1].argmax(-1)
        full = [self._next_log_probs(model, batch["input_ids"][i])([[int(tokens[i])]]) for i in range(len(prompts))]
        for name in CACHE_NAMES:
            with torch.no_grad():
                out = model(**self._next_step_inputs(model, first_inputs, tokens, name, copy.deepcopy(state)))
            assert INSTALLED_CACHE_NAME in list(out.keys()), f"given {name!r}, the state did not come back"
            got = out.logits[:, -1].float().log_softmax(-1)
            torch.testing.assert_close(got, torch.cat(full), atol=self.logits_atol, rtol=0,
                                       msg=lambda m, name=name: f"state given as {name!r}: {m}")
        both = self._next_step_inputs(model, first_inputs, tokens, "cache", copy.deepcopy(state))
        both["past_key_values"] = copy.deepcopy(state)
        with pytest.raises(ValueError):
            model(**both)

        expected = self._generate(model, batch, num_beams=1)
        for name in CACHE_NAMES:
            with torch.no_grad():
                out = model(**first_inputs)
                steps = [out.logits[:, -1].argmax(-1)]
                for _ in range(self.max_new_tokens - 1):
                    out = model(**self._next_step_inputs(model, first_inputs, steps[-1], name,
                                                         out[INSTALLED_CACHE_NAME]))
                    steps.append(out.logits[:, -1].argmax(-1))
            loop = torch.stack(steps, dim=1).tolist()
            for i in range(len(prompts)):
                assert self._continuation(model, batch, expected, i) == loop[i], f"loop driven by {name!r}"
