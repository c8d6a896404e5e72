"""hf_models' BERT: the shared model-tester suite on every head, plus BERT-specific tests (sparse MLM prediction,
input and label checks, gradient checkpointing, tied decoder, the three sequence-classification problem types)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
import transformers
from model_tester import ModelTesterMixin, assert_outputs_close, max_abs_diff
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from hf_models import (
    BertConfig,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)

ALL_HEADS = (
    BertModel,
    BertForPreTraining,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertForQuestionAnswering,
    BertForMultipleChoice,
)


class BertModelTester:
    """Tiny BERT configs and inputs (batch 3 of 7 tokens, right-padded to lengths 7, 5, 3)."""

    def __init__(
        self,
        batch_size=3,
        seq_length=7,
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=16,
        num_labels=3,
        num_choices=4,
        mlm_probability=0.3,
    ):
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.num_labels = num_labels
        self.num_choices = num_choices
        self.mlm_probability = mlm_probability
        self.lengths = [seq_length - 2 * i for i in range(batch_size)]  # 7, 5, 3: every example but the first padded
        self.generator = torch.Generator().manual_seed(42)

    def get_config(self, **overrides) -> BertConfig:
        kwargs = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act="gelu",
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            initializer_range=0.02,
            num_labels=self.num_labels,
            pad_token_id=0,
        )
        kwargs.update(overrides)
        return BertConfig(**kwargs)

    def randint(self, low, high, shape):
        return torch.randint(low, high, shape, generator=self.generator)

    def padding_mask(self) -> torch.Tensor:
        mask = torch.zeros(self.batch_size, self.seq_length, dtype=torch.long)
        for i, length in enumerate(self.lengths):
            mask[i, :length] = 1
        return mask

    def prepare_config_and_inputs_for_common(self, **config_overrides):
        mask = self.padding_mask()
        input_ids = self.randint(1, self.vocab_size, (self.batch_size, self.seq_length)).masked_fill(mask == 0, 0)
        # sentence A then sentence B, as in BERT's pair inputs; padding gets segment 0
        token_type_ids = torch.zeros_like(input_ids)
        for i, length in enumerate(self.lengths):
            token_type_ids[i, length // 2 : length] = 1
        inputs = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_type_ids}
        return self.get_config(**config_overrides), inputs

    def inputs_for_head(self, inputs_dict: dict, head: str, return_labels: bool = False) -> dict:
        """The inputs (and labels) of the head named `head` ("BertForMaskedLM", ...): works for hf_models' classes
        and transformers' classes of the same name alike."""
        inputs = {k: v.clone() for k, v in inputs_dict.items()}
        batch, seq = inputs["input_ids"].shape
        if head == "BertForMultipleChoice":
            # (batch, seq) -> (batch, num_choices, seq): each choice its own random tokens, same padding
            mask = inputs["attention_mask"][:, None, :].expand(-1, self.num_choices, -1).contiguous()
            ids = self.randint(1, self.vocab_size, (batch, self.num_choices, seq)).masked_fill(mask == 0, 0)
            types = inputs["token_type_ids"][:, None, :].expand(-1, self.num_choices, -1).contiguous()
            inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        if not return_labels:
            return inputs
        if head in ("BertForMaskedLM", "BertForPreTraining"):
            inputs["labels"] = self.mlm_labels(inputs["input_ids"], inputs["attention_mask"])
        if head == "BertForPreTraining":
            inputs["next_sentence_label"] = self.randint(0, 2, (batch,))
        elif head == "BertForNextSentencePrediction":
            inputs["labels"] = self.randint(0, 2, (batch,))
        elif head == "BertForSequenceClassification":
            inputs["labels"] = self.randint(0, self.num_labels, (batch,))
        elif head == "BertForTokenClassification":
            labels = self.randint(0, self.num_labels, (batch, seq))
            inputs["labels"] = labels.masked_fill(inputs["attention_mask"] == 0, -100)
        elif head == "BertForQuestionAnswering":
            inputs["start_positions"] = self.randint(0, 3, (batch,))
            inputs["end_positions"] = self.randint(0, 3, (batch,)) + inputs["start_positions"]
        elif head == "BertForMultipleChoice":
            inputs["labels"] = self.randint(0, self.num_choices, (batch,))
        return inputs

    def mlm_labels(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Original ids at ~mlm_probability of the real tokens (at least one per example), -100 elsewhere."""
        chosen = (torch.rand(input_ids.shape, generator=self.generator) < self.mlm_probability) & mask.bool()
        chosen[:, 1] = True  # every example has a real token at position 1
        return input_ids.masked_fill(~chosen, -100)


class TestBertModel(ModelTesterMixin):
    all_model_classes = ALL_HEADS
    model_tester_class = BertModelTester
    auto_model_classes = {
        BertModel: AutoModel,
        BertForPreTraining: AutoModelForPreTraining,
        BertForMaskedLM: AutoModelForMaskedLM,
        BertForNextSentencePrediction: AutoModelForNextSentencePrediction,
        BertForSequenceClassification: AutoModelForSequenceClassification,
        BertForTokenClassification: AutoModelForTokenClassification,
        BertForQuestionAnswering: AutoModelForQuestionAnswering,
        BertForMultipleChoice: AutoModelForMultipleChoice,
    }

    def _config_for_class(self, config, model_class):
        if model_class is BertForQuestionAnswering:
            config.num_labels = 2  # one start and one end score per token
        return config

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        return self.model_tester.inputs_for_head(inputs_dict, model_class.__name__, return_labels)

    def expected_output_shapes(self, model_class, inputs_dict, config):
        t = self.model_tester
        b, s, h, v = t.batch_size, t.seq_length, t.hidden_size, t.vocab_size
        return {
            BertModel: {"last_hidden_state": (b, s, h), "pooler_output": (b, h)},
            BertForPreTraining: {"prediction_logits": (b, s, v), "seq_relationship_logits": (b, 2)},
            BertForMaskedLM: {"logits": (b, s, v)},
            BertForNextSentencePrediction: {"logits": (b, 2)},
            BertForSequenceClassification: {"logits": (b, t.num_labels)},
            BertForTokenClassification: {"logits": (b, s, t.num_labels)},
            BertForQuestionAnswering: {"start_logits": (b, s), "end_logits": (b, s)},
            BertForMultipleChoice: {"logits": (b, t.num_choices)},
        }[model_class]

    # ------------------------------------------------------------------------------------------------------------------
    # BERT-specific tests
    # ------------------------------------------------------------------------------------------------------------------
    # --- sequence classification: the three problem types ------------------------------------------------------------
    def test_sequence_classification_single_label(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertForSequenceClassification(config).eval()
        labels = torch.tensor([0, 2, 1])
        out = model(**inputs, labels=labels)
        assert model.config.problem_type == "single_label_classification"
        assert out.logits.shape == (3, 3)
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels), atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match=r"labels must be class ids in \[0, num_labels=3\)"):
            model(**inputs, labels=torch.tensor([0, 3, 1]))

    def test_sequence_classification_multi_label(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common(
            problem_type="multi_label_classification"
        )
        model = BertForSequenceClassification(config).eval()
        labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
        out = model(**inputs, labels=labels)
        torch.testing.assert_close(
            out.loss, F.binary_cross_entropy_with_logits(out.logits, labels), atol=1e-6, rtol=0
        )
        # float multi-hot labels without a problem_type are read as multi-label too
        config2, _ = self.model_tester.prepare_config_and_inputs_for_common()
        model2 = BertForSequenceClassification(config2).eval()
        model2(**inputs, labels=labels)
        assert model2.config.problem_type == "multi_label_classification"

    def test_sequence_classification_regression(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common(num_labels=1)
        model = BertForSequenceClassification(config).eval()
        labels = torch.tensor([0.5, -1.0, 2.0])
        out = model(**inputs, labels=labels)
        assert model.config.problem_type == "regression"
        assert out.logits.shape == (3, 1)
        torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), labels), atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match=r"labels has shape \(2,\), expected \(3,\)"):
            model(**inputs, labels=labels[:2])

    # --- losses equal their definitions -------------------------------------------------------------------------------
    def test_head_losses_match_their_definition(self):
        """Each head's loss is the textbook cross-entropy of its logits (eval mode, full MLM logits)."""
        for model_class in (BertForMaskedLM, BertForTokenClassification, BertForQuestionAnswering,
                            BertForMultipleChoice, BertForNextSentencePrediction, BertForPreTraining):
            config, inputs = self._config_and_inputs(model_class, return_labels=True)
            model = model_class(config).eval()
            with torch.no_grad():
                out = model(**inputs)
            if model_class is BertForMaskedLM:
                expected = F.cross_entropy(out.logits.flatten(0, 1), inputs["labels"].flatten(), ignore_index=-100)
            elif model_class is BertForTokenClassification:
                expected = F.cross_entropy(out.logits.flatten(0, 1), inputs["labels"].flatten(), ignore_index=-100)
            elif model_class is BertForQuestionAnswering:
                expected = (F.cross_entropy(out.start_logits, inputs["start_positions"])
                            + F.cross_entropy(out.end_logits, inputs["end_positions"])) / 2
            elif model_class is BertForPreTraining:
                expected = F.cross_entropy(out.prediction_logits.flatten(0, 1), inputs["labels"].flatten(),
                                           ignore_index=-100) + F.cross_entropy(out.seq_relationship_logits,
                                                                                inputs["next_sentence_label"])
            else:
                expected = F.cross_entropy(out.logits, inputs["labels"])
            torch.testing.assert_close(out.loss, expected, atol=1e-6, rtol=0, msg=model_class.__name__)

    def test_question_answering_ignores_out_of_range_positions(self):
        config, inputs = self._config_and_inputs(BertForQuestionAnswering)
        model = BertForQuestionAnswering(config).eval()
        start, end = torch.tensor([1, 2, 50]), torch.tensor([2, 3, 60])  # the third answer was truncated away
        out = model(**inputs, start_positions=start, end_positions=end)
        expected = (F.cross_entropy(out.start_logits[:2], start[:2]) + F.cross_entropy(out.end_logits[:2], end[:2])) / 2
        torch.testing.assert_close(out.loss, expected, atol=1e-6, rtol=0)

    # --- sparse MLM prediction ----------------------------------------------------------------------------------------
    @pytest.mark.parametrize("model_class", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
    def test_sparse_prediction_equals_dense(self, model_class):
        """Training with labels: the vocabulary projection on the masked positions only gives the same loss and the
        same gradients as the projection on every position; logits hold one row per masked token."""
        config, inputs = self._config_and_inputs(
            model_class, return_labels=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
        )
        assert config.sparse_prediction is True  # the default
        labels = inputs["labels"]
        num_masked = int((labels != -100).sum())
        assert 0 < num_masked < labels.numel()
        logits_key = "logits" if model_class is BertForMaskedLM else "prediction_logits"

        model = model_class(config).train()
        results = {}
        for sparse in (True, False):
            model.config.sparse_prediction = sparse
            model.zero_grad()
            out = model(**inputs)
            out.loss.backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            results[sparse] = (out, grads)
        (sparse_out, sparse_grads), (dense_out, dense_grads) = results[True], results[False]
        assert tuple(sparse_out[logits_key].shape) == (num_masked, config.vocab_size)
        assert tuple(dense_out[logits_key].shape) == (*labels.shape, config.vocab_size)
        torch.testing.assert_close(sparse_out[logits_key], dense_out[logits_key][labels != -100], atol=1e-6, rtol=0)
        assert abs(sparse_out.loss.item() - dense_out.loss.item()) <= 1e-6
        assert set(sparse_grads) == set(dense_grads) and len(sparse_grads) == len(list(model.parameters()))
        for name, grad in sparse_grads.items():
            diff = max_abs_diff(grad, dense_grads[name])
            assert diff <= 1e-6, f"grad of {name} differs by {diff:.3g}"

        model.config.sparse_prediction = True
        model.eval()
        with torch.no_grad():
            evaluated = model(**inputs)
        assert tuple(evaluated[logits_key].shape) == (*labels.shape, config.vocab_size)  # full logits in eval mode
        model.train()
        with torch.no_grad():
            no_labels = model(**{k: v for k, v in inputs.items() if k not in ("labels", "next_sentence_label")})
        assert tuple(no_labels[logits_key].shape) == (*labels.shape, config.vocab_size)  # no labels: full logits

    def test_sparse_prediction_with_no_masked_token(self):
        config, inputs = self._config_and_inputs(BertForMaskedLM, return_labels=True)
        model = BertForMaskedLM(config).train()
        labels = torch.full_like(inputs["input_ids"], -100)
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels)
        assert out.logits.shape == (0, config.vocab_size)
        assert out.loss.item() == 0.0
        out.loss.backward()  # a batch without masked tokens must not break a training loop

    @pytest.mark.parametrize("model_class", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
    def test_mlm_loss_with_no_labelled_position_agrees_in_every_mode(self, model_class):
        """Labels all -100: the MLM loss is 0.0 with a zero gradient in train and eval mode, sparse and dense alike
        (the dense path used to give 0/0 = NaN in eval mode while the sparse one gave 0.0 in train mode)."""
        config, inputs = self._config_and_inputs(
            model_class, return_labels=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
        )
        inputs["labels"] = torch.full_like(inputs["input_ids"], -100)
        model = model_class(config)
        if model_class is BertForPreTraining:  # the MLM loss alone (no NSP label)
            del inputs["next_sentence_label"]
        for training in (True, False):
            for sparse in (True, False):
                model.train(training)
                model.config.sparse_prediction = sparse
                model.zero_grad()
                out = model(**inputs)
                assert out.loss.item() == 0.0, f"training={training} sparse={sparse}: loss {out.loss.item()}"
                out.loss.backward()
                for name, p in model.named_parameters():
                    assert p.grad is None or not p.grad.any(), f"training={training} sparse={sparse}: grad of {name}"

    # --- clear errors -------------------------------------------------------------------------------------------------
    def test_config_errors(self):
        with pytest.raises(ValueError, match=r"hidden_size \(30\) must be divisible by .*num_attention_heads \(4\)"):
            self.model_tester.get_config(hidden_size=30)
        with pytest.raises(ValueError, match=r"vocab_size must be a positive integer"):
            self.model_tester.get_config(vocab_size=0)
        with pytest.raises(ValueError, match=r"hidden_dropout_prob must be in \[0, 1\)"):
            self.model_tester.get_config(hidden_dropout_prob=1.5)
        with pytest.raises(ValueError, match=r"pad_token_id \(99\) must be in \[0, vocab_size=99\)"):
            self.model_tester.get_config(pad_token_id=99)
        with pytest.raises(ValueError, match=r"position_embedding_type='relative_key' is not supported"):
            self.model_tester.get_config(position_embedding_type="relative_key")
        with pytest.raises(ValueError, match=r"is_decoder/add_cross_attention are not supported"):
            self.model_tester.get_config(is_decoder=True)
        with pytest.raises(ValueError, match=r"BertForQuestionAnswering needs config.num_labels=2 .*got 3"):
            BertForQuestionAnswering(self.model_tester.get_config(num_labels=3))

    def test_input_errors(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertModel(config).eval()
        too_long = torch.ones(1, config.max_position_embeddings + 1, dtype=torch.long)
        with pytest.raises(ValueError, match=r"sequence length 65 exceeds max_position_embeddings=64"):
            model(too_long)
        model(too_long[:, :-1])  # exactly max_position_embeddings is fine
        ids = inputs["input_ids"].clone()
        ids[1, 2] = config.vocab_size
        with pytest.raises(ValueError, match=r"input_ids contains id 99, outside \[0, vocab_size=99\)"):
            model(ids)
        ids[1, 2] = -1
        with pytest.raises(ValueError, match=r"input_ids contains id -1, outside \[0, vocab_size=99\)"):
            model(ids)
        types = inputs["token_type_ids"].clone()
        types[0, 0] = config.type_vocab_size
        with pytest.raises(ValueError, match=r"token_type_ids contains id 16, outside \[0, type_vocab_size=16\)"):
            model(inputs["input_ids"], token_type_ids=types)
        with pytest.raises(ValueError, match=r"token_type_ids has shape \(3, 6\), expected \(3, 7\)"):
            model(inputs["input_ids"], token_type_ids=inputs["token_type_ids"][:, :6])
        with pytest.raises(ValueError, match=r"attention_mask has shape \(3, 6\), expected \(3, 7\)"):
            model(inputs["input_ids"], attention_mask=inputs["attention_mask"][:, :6])
        with pytest.raises(ValueError, match=r"input_ids must have shape \(batch, seq\), got \(7,\)"):
            model(inputs["input_ids"][0])
        with pytest.raises(ValueError, match=r"exactly one of input_ids or inputs_embeds"):
            model()
        with pytest.raises(TypeError, match=r"input_ids must hold integer ids"):
            model(inputs["input_ids"].float())

    def test_label_shape_errors(self):
        t = self.model_tester
        config, inputs = t.prepare_config_and_inputs_for_common()
        b, s = inputs["input_ids"].shape

        model = BertForSequenceClassification(config).eval()
        with pytest.raises(ValueError, match=r"labels has shape \(6,\), expected \(3,\) \(one class id per example\)"):
            model(**inputs, labels=torch.zeros(b, 2, dtype=torch.long))
        multi = BertForSequenceClassification(t.get_config(problem_type="multi_label_classification")).eval()
        with pytest.raises(ValueError, match=r"labels has shape \(3, 2\), expected \(3, 3\)"):
            multi(**inputs, labels=torch.zeros(b, 2))

        model = BertForTokenClassification(config).eval()
        with pytest.raises(ValueError, match=r"labels has shape \(3, 8\), expected \(3, 7\)"):
            model(**inputs, labels=torch.zeros(b, s + 1, dtype=torch.long))
        with pytest.raises(ValueError, match=r"labels must be in \[0, num_labels=3\) or -100"):
            model(**inputs, labels=torch.full((b, s), 3))

        for model_class in (BertForMaskedLM, BertForPreTraining):
            model = model_class(config)
            for mode in (model.eval, model.train):
                mode()
                with pytest.raises(ValueError, match=r"labels has shape \(3, 6\), expected \(3, 7\)"):
                    model(**inputs, labels=torch.zeros(b, s - 1, dtype=torch.long))

        model = BertForQuestionAnswering(self._config_and_inputs(BertForQuestionAnswering)[0]).eval()
        with pytest.raises(ValueError, match=r"start_positions has shape \(4,\), expected \(3,\)"):
            model(**inputs, start_positions=torch.zeros(b + 1, dtype=torch.long), end_positions=torch.zeros(b + 1, dtype=torch.long))
        with pytest.raises(ValueError, match=r"end_positions has shape \(2,\), expected \(3,\)"):
            model(**inputs, start_positions=torch.zeros(b, dtype=torch.long), end_positions=torch.zeros(b - 1, dtype=torch.long))
        with pytest.raises(ValueError, match=r"both start_positions and end_positions"):
            model(**inputs, start_positions=torch.zeros(b, dtype=torch.long))

        model = BertForNextSentencePrediction(config).eval()
        with pytest.raises(ValueError, match=r"labels has shape \(2,\), expected \(3,\)"):
            model(**inputs, labels=torch.zeros(b - 1, dtype=torch.long))

    def test_multiple_choice_input_errors(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertForMultipleChoice(config).eval()
        with pytest.raises(ValueError, match=r"BertForMultipleChoice expects input_ids of shape \(batch, num_choices, seq\)"):
            model(**inputs)  # 2-D input
        with pytest.raises(ValueError, match=r"expects input_ids of shape \(batch, num_choices, seq\)"):
            model(inputs["input_ids"][:, None, None, :])
        mc = self._prepare_for_class(inputs, BertForMultipleChoice, return_labels=True)
        with pytest.raises(ValueError, match=r"labels has shape \(2,\), expected \(3,\)"):
            model(**{**mc, "labels": mc["labels"][:2]})

    # --- gradient checkpointing ---------------------------------------------------------------------------------------
    @pytest.mark.parametrize("model_class", [BertForSequenceClassification, BertForMaskedLM], ids=lambda c: c.__name__)
    @pytest.mark.parametrize("enable", ["activation_checkpointing_enable", "gradient_checkpointing_enable"])
    def test_gradient_checkpointing(self, model_class, enable):
        """Checkpointed training recomputes the layers in backward and gives the same loss and gradients."""
        if not hasattr(model_class, enable):
            pytest.skip(f"transformers {transformers.__version__} has no PreTrainedModel.{enable} (later 5.x name)")
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        model = model_class(config).train()

        def loss_and_grads():
            model.zero_grad()
            torch.manual_seed(7)  # same dropout masks in both runs
            loss = model(**inputs).loss
            loss.backward()
            return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

        calls = []

        def counted(forward):
            def wrapper(*args, **kwargs):
                calls.append(1)
                return forward(*args, **kwargs)

            return wrapper

        for layer in model.bert.encoder.layer:
            layer.forward = counted(layer.forward)  # counts first passes and recomputations alike
        plain_loss, plain_grads = loss_and_grads()
        plain_calls = len(calls)
        assert plain_calls == config.num_hidden_layers

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # gradient_checkpointing_enable is a deprecated alias
            getattr(model, enable)()
        assert model.bert.encoder.gradient_checkpointing
        assert getattr(model, "is_activation_checkpointing", model.is_gradient_checkpointing)
        calls.clear()
        ckpt_loss, ckpt_grads = loss_and_grads()
        assert len(calls) == 2 * config.num_hidden_layers, "the layers were not recomputed during backward"
        assert abs(ckpt_loss.item() - plain_loss.item()) <= 1e-6
        for name, grad in plain_grads.items():
            diff = max_abs_diff(ckpt_grads[name], grad)
            assert diff <= 1e-6, f"grad of {name} differs by {diff:.3g} under checkpointing"
        # in eval mode checkpointing is a no-op
        calls.clear()
        with torch.no_grad():
            model.eval()(**inputs)
        assert len(calls) == config.num_hidden_layers

    # --- tied decoder -------------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("model_class", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
    def test_decoder_tied_to_input_embeddings(self, model_class, tmp_path):
        config, inputs = self._config_and_inputs(model_class, return_labels=True)

        def assert_tied(model):
            embeddings = model.bert.embeddings.word_embeddings.weight
            decoder = model.cls.predictions.decoder
            assert decoder.weight is embeddings
            assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
            assert decoder.bias is model.cls.predictions.bias

        model = model_class(config)
        assert_tied(model)
        # training moves the shared matrix once, through both uses
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        model(**inputs).loss.backward()
        optimizer.step()
        assert_tied(model)
        model.eval()
        model.save_pretrained(tmp_path)
        loaded = model_class.from_pretrained(tmp_path).eval()
        assert_tied(loaded)
        assert torch.equal(loaded.cls.predictions.decoder.weight, model.bert.embeddings.word_embeddings.weight)
        with torch.no_grad():
            assert_outputs_close(loaded(**inputs), model(**inputs), atol=0.0, what="tied roundtrip")
        # the tie survives a vocabulary resize
        loaded.resize_token_embeddings(config.vocab_size + 5)
        assert_tied(loaded)
        assert loaded.cls.predictions.decoder.weight.shape == (config.vocab_size + 5, config.hidden_size)
        assert loaded.cls.predictions.bias.shape == (config.vocab_size + 5,)

    @pytest.mark.parametrize("model_class", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
    def test_encoder_checkpoint_into_mlm_head(self, model_class, tmp_path):
        """A checkpoint without the MLM head (a bare BertModel) loads into an MLM head: the head's missing weights,
        the output bias included, are materialised and initialised (nothing left on the meta device), and tied."""
        config, inputs = self._config_and_inputs(model_class, return_labels=True)
        encoder = BertModel(config).eval()
        encoder.save_pretrained(tmp_path)
        model, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
        assert "cls.predictions.bias" in info["missing_keys"]
        assert "cls.predictions.transform.dense.weight" in info["missing_keys"]
        on_meta = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
        assert not on_meta, f"left on the meta device: {on_meta}"
        head = model.cls.predictions
        assert torch.equal(head.bias, torch.zeros_like(head.bias))
        assert head.decoder.bias is head.bias
        assert head.decoder.weight is model.bert.embeddings.word_embeddings.weight
        assert torch.equal(head.transform.LayerNorm.weight, torch.ones_like(head.transform.LayerNorm.weight))
        assert torch.equal(model.bert.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight)
        out = model.eval()(**inputs)
        assert torch.isfinite(out.loss)

    def test_untied_decoder_is_independent(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common(tie_word_embeddings=False)
        model = BertForMaskedLM(config)
        assert model.cls.predictions.decoder.weight is not model.bert.embeddings.word_embeddings.weight

    # --- misc ---------------------------------------------------------------------------------------------------------
    def test_inputs_embeds_equal_input_ids(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertModel(config).eval()
        with torch.no_grad():
            by_ids = model(**inputs)
            embeds = model.get_input_embeddings()(inputs["input_ids"])
            by_embeds = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
                              token_type_ids=inputs["token_type_ids"])
        assert_outputs_close(by_embeds, by_ids, atol=1e-6, what="inputs_embeds")

    def test_default_token_type_ids_are_segment_a(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertModel(config).eval()
        with torch.no_grad():
            implicit = model(inputs["input_ids"], attention_mask=inputs["attention_mask"])
            explicit = model(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                             token_type_ids=torch.zeros_like(inputs["input_ids"]))
            other = model(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                          token_type_ids=inputs["token_type_ids"])
        assert_outputs_close(implicit, explicit, atol=1e-6, what="default token_type_ids")
        assert max_abs_diff(other.last_hidden_state, implicit.last_hidden_state) > 1e-3

    def test_padding_tokens_do_not_change_real_positions(self):
        """Whatever sits under the mask (pad id or any other token) leaves the real positions unchanged."""
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = BertModel(config).eval()
        mask = inputs["attention_mask"].bool()
        garbage = inputs["input_ids"].clone()
        garbage[~mask] = torch.randint(1, config.vocab_size, (int((~mask).sum()),))
        with torch.no_grad():
            a = model(**inputs).last_hidden_state
            b = model(**{**inputs, "input_ids": garbage}).last_hidden_state
        assert max_abs_diff(a[mask], b[mask]) <= 1e-6
