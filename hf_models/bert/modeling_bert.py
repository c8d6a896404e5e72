"""BERT (Devlin et al. 2019) as the lecture draws it: embeddings, post-LN encoder blocks, pooler and task heads.

Module names follow the official checkpoints (`bert.embeddings.word_embeddings`, `encoder.layer.N.attention.self.query`,
`cls.predictions.transform`, ...), so weights saved in transformers' BERT format load as they are. This file imports
only torch, transformers and `.configuration_bert`, so a saved folder loads with `trust_remote_code=True`.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.loss.loss_utils import (
    ForMaskedLMLoss,
    ForQuestionAnsweringLoss,
    ForSequenceClassificationLoss,
    ForTokenClassification,
    fixed_cross_entropy,
)
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import BertForPreTrainingOutput
from transformers.utils import can_return_tuple

from .configuration_bert import BertConfig

IGNORE_INDEX = -100


# ----------------------------------------------------------------------------------------------------------------------
# Input checks: bad input stops here with a message that names the field, not deep inside torch.
# ----------------------------------------------------------------------------------------------------------------------
def _check_ids(name: str, ids: torch.Tensor | None, upper: int, field: str) -> None:
    """Raise a ValueError when `ids` holds a value outside [0, upper)."""
    if ids is None or ids.numel() == 0:
        return
    if ids.is_floating_point():
        raise TypeError(f"{name} must hold integer ids, got dtype {ids.dtype}")
    low, high = torch.aminmax(ids)
    low, high = int(low), int(high)
    if low < 0 or high >= upper:
        bad = low if low < 0 else high
        raise ValueError(f"{name} contains id {bad}, outside [0, {field}={upper})")


def _check_labels(name: str, labels: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    """Raise a ValueError naming `name` when labels do not have the shape the head needs."""
    if tuple(labels.shape) != tuple(expected):
        raise ValueError(f"{name} has shape {tuple(labels.shape)}, expected {tuple(expected)} ({what})")


# ----------------------------------------------------------------------------------------------------------------------
# Embeddings
# ----------------------------------------------------------------------------------------------------------------------
class BertEmbeddings(nn.Module):
    """Input representation: token + segment + learned position embeddings, then LayerNorm and dropout (BERT Fig. 2)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False)
        self.config = config

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        input_shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
        seq_length = input_shape[1]
        max_positions = self.config.max_position_embeddings
        if seq_length > max_positions:
            raise ValueError(
                f"input sequence length {seq_length} exceeds max_position_embeddings={max_positions}: truncate the "
                f"input, e.g. tokenizer(..., truncation=True, max_length={max_positions})"
            )
        _check_ids("input_ids", input_ids, self.config.vocab_size, "vocab_size")
        _check_ids("token_type_ids", token_type_ids, self.config.type_vocab_size, "type_vocab_size")
        _check_ids("position_ids", position_ids, max_positions, "max_position_embeddings")

        if position_ids is None:
            position_ids = self.position_ids[:, :seq_length]
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:
            # segment A everywhere: the first row of the segment table, broadcast over batch and positions
            segment = self.token_type_embeddings.weight[0]
        else:
            segment = self.token_type_embeddings(token_type_ids)
        embeddings = inputs_embeds + segment + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


# ----------------------------------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------------------------------
def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, softmax(Q K^T / sqrt(d_k) + M) V (Vaswani et al. 2017, eq. 1)."""
    # query/key/value: (batch, heads, seq, d_k); attention_mask: additive (batch, 1, 1, seq) or None
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, seq_q, seq_k)
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value)  # (batch, heads, seq_q, d_k)
    return output.transpose(1, 2).contiguous(), probs  # (batch, seq_q, heads, d_k)


class BertSelfAttention(nn.Module):
    """Multi-head self-attention: project to h heads of Q, K, V, attend in each, concatenate (Vaswani et al. 3.2.2)."""

    is_causal = False  # BERT attends in both directions

    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.scaling = self.attention_head_size**-0.5  # 1 / sqrt(d_k)
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.layer_idx = layer_idx

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, seq, _ = hidden_states.shape
        # Q, K and V come from one matrix product with the three projections stacked: the same numbers as three
        # separate products, one pass over the activations.
        weight = torch.cat((self.query.weight, self.key.weight, self.value.weight))
        bias = torch.cat((self.query.bias, self.key.bias, self.value.bias))
        qkv = F.linear(hidden_states, weight, bias)  # (batch, seq, 3 * hidden)
        qkv = qkv.view(batch, seq, 3, self.num_attention_heads, self.attention_head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, heads, seq, d_k)

        # the probabilities are only materialised by the eager path. (`ALL_ATTENTION_FUNCTIONS[...]`, not
        # `.get_interface`, which transformers 5.0 lacks; both raise on an unknown implementation.)
        implementation = self.config._attn_implementation
        attention_interface: Callable = eager_attention_forward
        if not output_attentions and implementation not in (None, "eager"):
            attention_interface = ALL_ATTENTION_FUNCTIONS[implementation]
        context, probs = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout.p if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
        )
        context = context.reshape(batch, seq, self.all_head_size)  # concatenate the heads
        return context, probs


class _PostLNResidual(nn.Module):
    """Sub-layer output of a post-LN block: LayerNorm(x + Dropout(W h + b)) (Vaswani et al. 2017, section 5.4)."""

    def __init__(self, config: BertConfig, in_features: int):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertSelfOutput(_PostLNResidual):
    """Attention sub-layer output: the W_O projection of the concatenated heads, then the post-LN residual."""

    def __init__(self, config: BertConfig):
        super().__init__(config, config.hidden_size)


class BertAttention(nn.Module):
    """Self-attention sub-layer with its output projection and residual connection."""

    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.self = BertSelfAttention(config, layer_idx=layer_idx)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        context, probs = self.self(hidden_states, attention_mask, output_attentions)
        return self.output(context, hidden_states), probs


class BertIntermediate(nn.Module):
    """First half of the position-wise feed-forward network: GELU(x W_1 + b_1)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act] if isinstance(config.hidden_act, str) else config.hidden_act

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(_PostLNResidual):
    """Second half of the feed-forward network, W_2 h + b_2, then the post-LN residual."""

    def __init__(self, config: BertConfig):
        super().__init__(config, config.intermediate_size)


class BertLayer(nn.Module):
    """One post-LN encoder block: x = LN(x + MHA(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.attention = BertAttention(config, layer_idx=layer_idx)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        attention_output, probs = self.attention(hidden_states, attention_mask, output_attentions)
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, probs


class BertEncoder(nn.Module):
    """A stack of `num_hidden_layers` encoder blocks."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([BertLayer(config, layer_idx=i) for i in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer_module in self.layer:
            if self.gradient_checkpointing and self.training:
                hidden_states, probs = self._gradient_checkpointing_func(
                    layer_module.__call__, hidden_states, attention_mask, output_attentions
                )
            else:
                hidden_states, probs = layer_module(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probs,)
        return hidden_states, all_hidden_states, all_attentions


class BertPooler(nn.Module):
    """Sentence representation: tanh(W h_[CLS] + b), the hidden state of the first token."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


# ----------------------------------------------------------------------------------------------------------------------
# Pretraining heads
# ----------------------------------------------------------------------------------------------------------------------
class BertPredictionHeadTransform(nn.Module):
    """MLM transform before the vocabulary projection: LayerNorm(GELU(W h + b))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act] if isinstance(config.hidden_act, str) else config.hidden_act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """MLM output: scores over the vocabulary with the (tied) input embedding matrix and an output-only bias."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        # decoder.bias becomes this same parameter through `_tied_weights_keys` (tie_weights), not here: a tie made in
        # __init__ hides `cls.predictions.bias` from the loader, which then leaves it uninitialised (on the meta
        # device) when a checkpoint without an MLM head (any BertModel checkpoint) is loaded into an MLM head.

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


class BertOnlyNSPHead(nn.Module):
    """NSP classifier on the pooled [CLS] vector: is segment B the true continuation of A? (0 yes, 1 no)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.seq_relationship(pooled_output)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, sequence_output, pooled_output):
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


# ----------------------------------------------------------------------------------------------------------------------
# Base classes
# ----------------------------------------------------------------------------------------------------------------------
class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _no_split_modules = ["BertEmbeddings", "BertLayer"]
    # The loss is a mean over the batch; the Trainer must not rescale it by num_items_in_batch or the world size.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """N(0, initializer_range) for weights and embeddings, zero biases, unit LayerNorm (BERT's init)."""
        super()._init_weights(module)
        # through transformers.initialization, which leaves a tensor loaded from a checkpoint as it is (transformers
        # 5.0 runs _init_weights after loading too: a plain zero_() wiped the loaded MLM bias there)
        if isinstance(module, BertLMPredictionHead):
            init.zeros_(module.bias)
        elif isinstance(module, BertEmbeddings):
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights (safetensors), config, the code (so the folder loads with trust_remote_code) and a model card.

        A README.md already in the folder is the user's and is left as it is.
        """
        if self._auto_class is not None:
            # list every head, not only the one being saved, so any Auto class can load the folder
            self.config.auto_map = dict(AUTO_MAP)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        is_main_process = kwargs.get("is_main_process", True)
        card = os.path.join(save_directory, "README.md")
        if is_main_process and not os.path.exists(card):
            with open(card, "w", encoding="utf-8") as f:
                f.write(self._model_card())
        return result

    def _model_card(self) -> str:
        """A Hub model card: metadata, architecture summary and how to load the folder."""
        c = self.config
        head = type(self).__name__
        auto = {cls.__name__: auto_name for auto_name, cls in HEADS.items()}.get(head, "AutoModel")
        task = {
            "BertForMaskedLM": "fill-mask", "BertForPreTraining": "fill-mask",
            "BertForSequenceClassification": "text-classification", "BertForTokenClassification":
            "token-classification", "BertForQuestionAnswering": "question-answering",
            "BertForMultipleChoice": "multiple-choice", "BertModel": "feature-extraction",
        }.get(head)
        meta = ["---", "library_name: transformers", "tags:", "- hf_models", "- bert", f"- {c.model_type}"]
        if task:
            meta.append(f"pipeline_tag: {task}")
        meta.append("---")
        return "\n".join(meta) + f"""

# {head}

A BERT encoder (Devlin et al. 2019) saved by [hf_models](https://pypi.org/project/hf-models/): post-LN Transformer
encoder with token, segment and learned position embeddings.

| | |
|---|---|
| layers | {c.num_hidden_layers} |
| hidden size | {c.hidden_size} |
| attention heads | {c.num_attention_heads} |
| feed-forward size | {c.intermediate_size} |
| vocabulary | {c.vocab_size} |
| max positions | {c.max_position_embeddings} |
| parameters | {self.num_parameters():,} |

## Use

```python
import hf_models  # registers the hf_bert model type with transformers' Auto classes
from transformers import {auto}
model = {auto}.from_pretrained("path/or/repo")
```

Without hf_models installed, the code saved in this folder is used:

```python
from transformers import {auto}
model = {auto}.from_pretrained("path/or/repo", trust_remote_code=True)
```
"""

    def _attention_mask(self, attention_mask: torch.Tensor | None, embeddings: torch.Tensor, eager: bool = False):
        """Padding mask: keep real tokens, hide [PAD] keys from every query (transformers' `create_bidirectional_mask`).

        None without padding (the unmasked, fastest kernel); else the configured kernel's mask: (batch, 1, seq, seq),
        boolean (True = attend) for sdpa, additive (0 or the dtype's minimum) for eager. The eager path, which also
        runs whenever attention probabilities are asked for (`eager=True`), adds an additive one to the scores.
        """
        if attention_mask is None:
            return None
        batch, seq = embeddings.shape[:2]
        if tuple(attention_mask.shape) != (batch, seq):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(batch, seq)}")
        mask = create_bidirectional_mask(self.config, embeddings, attention_mask)  # positional: renamed in 5.x
        if eager and mask is not None and self.config._attn_implementation != "eager":
            # another kernel's mask (sdpa's boolean one, flash's 2D one, ...) -> the additive mask eager adds
            keep = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, seq): broadcast over heads and queries
            minimum = torch.finfo(embeddings.dtype).min
            mask = torch.zeros(keep.shape, dtype=embeddings.dtype, device=keep.device).masked_fill(~keep, minimum)
        return mask


# ----------------------------------------------------------------------------------------------------------------------
# The encoder
# ----------------------------------------------------------------------------------------------------------------------
class BertModel(BertPreTrainedModel):
    """The bare BERT encoder: embeddings, encoder stack and (optionally) the pooler."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> tuple | BaseModelOutputWithPoolingAndCrossAttentions:
        """The encoder's outputs; with `return_dict=False` (read by `can_return_tuple`), their tuple without Nones."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids or inputs_embeds")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, seq), got {tuple(input_ids.shape)}")
        if inputs_embeds is not None and inputs_embeds.dim() != 3:
            raise ValueError(f"inputs_embeds must have shape (batch, seq, hidden), got {tuple(inputs_embeds.shape)}")
        output_attentions = bool(output_attentions if output_attentions is not None else self.config.output_attentions)
        output_hidden_states = bool(
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        batch, seq = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        for name, tensor in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
            if tensor is not None and tensor.shape[-1] != seq:
                raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {(batch, seq)}")

        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = self._attention_mask(attention_mask, embedding_output, eager=output_attentions)
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, mask, output_attentions, output_hidden_states
        )
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )


# ----------------------------------------------------------------------------------------------------------------------
# Heads
# ----------------------------------------------------------------------------------------------------------------------
class _BertWithLMHead(BertPreTrainedModel):
    """Shared plumbing for the heads that predict vocabulary tokens (tied to the input embeddings)."""

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def _mlm(self, sequence_output: torch.Tensor, labels: torch.Tensor | None):
        """MLM logits and loss: cross-entropy of the vocabulary scores at the selected positions (labels != -100)."""
        if labels is not None:
            _check_labels("labels", labels, sequence_output.shape[:2], "one token id or -100 per input token")
        if labels is not None and self.training and self.config.sparse_prediction:
            selected = labels != IGNORE_INDEX  # (batch, seq)
            logits = self.cls.predictions(sequence_output[selected])  # (num_selected, vocab)
            loss = fixed_cross_entropy(logits.float(), labels[selected]) if logits.shape[0] else logits.sum() * 0.0
            return logits, loss
        logits = self.cls.predictions(sequence_output)  # (batch, seq, vocab)
        loss = None
        if labels is not None:
            # the mean over the labelled positions, 0.0 (with a zero gradient) when there is none, as on the sparse
            # path: a plain mean would be 0/0 = NaN. The count stays a tensor (no host sync on an accelerator).
            num_labelled = (labels != IGNORE_INDEX).sum().clamp(min=1)
            loss = ForMaskedLMLoss(logits, labels.contiguous(), self.config.vocab_size, num_items_in_batch=num_labelled,
                                   ignore_index=IGNORE_INDEX)
        return logits, loss


class BertForPreTraining(_BertWithLMHead):
    """BERT with both pretraining heads: masked LM over the vocabulary and next sentence prediction on [CLS]."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        next_sentence_label=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | BertForPreTrainingOutput:
        """Pretraining loss = MLM cross-entropy + NSP cross-entropy (BERT section 3.1)."""
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        prediction_scores, mlm_loss = self._mlm(outputs.last_hidden_state, labels)
        seq_relationship_score = self.cls.seq_relationship(outputs.pooler_output)
        total_loss = None
        if next_sentence_label is not None:
            _check_labels("next_sentence_label", next_sentence_label.view(-1), (seq_relationship_score.shape[0],),
                          "one 0/1 label per example")
            nsp_loss = fixed_cross_entropy(seq_relationship_score.float(), next_sentence_label.view(-1))
            total_loss = nsp_loss if mlm_loss is None else mlm_loss + nsp_loss
        elif mlm_loss is not None:
            total_loss = mlm_loss
        return BertForPreTrainingOutput(
            loss=total_loss,
            prediction_logits=prediction_scores,
            seq_relationship_logits=seq_relationship_score,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class BertForMaskedLM(_BertWithLMHead):
    """BERT with the masked language modelling head (the cloze task of BERT section 3.1)."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | MaskedLMOutput:
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits, loss = self._mlm(outputs.last_hidden_state, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                              attentions=outputs.attentions)


class BertForNextSentencePrediction(BertPreTrainedModel):
    """BERT with the NSP head: label 0 when segment B follows A in the text, 1 when B is a random segment."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | NextSentencePredictorOutput:
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.cls(outputs.pooler_output)
        loss = None
        if labels is not None:
            _check_labels("labels", labels.view(-1), (logits.shape[0],), "one 0/1 label per example")
            loss = fixed_cross_entropy(logits.float(), labels.view(-1))
        return NextSentencePredictorOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                           attentions=outputs.attentions)


def _classifier_dropout(config: BertConfig) -> nn.Dropout:
    """Dropout before a classifier: classifier_dropout, or the model's dropout when unset."""
    p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return nn.Dropout(p)


class BertForSequenceClassification(BertPreTrainedModel):
    """Pooled [CLS] -> dropout -> linear: single-label (cross-entropy), multi-label (BCE) or regression (MSE)."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | SequenceClassifierOutput:
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (batch, num_labels)
        loss = None
        if labels is not None:
            loss = self._classification_loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions)

    def _classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """MSE (regression), cross-entropy (single label) or BCE (multi-label), chosen like transformers' heads.

        The labels are checked here (a clear error, not one from deep inside torch); transformers'
        `ForSequenceClassificationLoss` computes the loss, in float32.
        """
        batch = logits.shape[0]
        if self.config.problem_type is None:
            if self.num_labels == 1:
                self.config.problem_type = "regression"
            elif not labels.is_floating_point():
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        problem = self.config.problem_type
        if problem == "regression":
            expected = (batch,) if self.num_labels == 1 else (batch, self.num_labels)
            flat = self.num_labels == 1 and labels.numel() == batch  # (batch,) or (batch, 1)
            _check_labels("labels", labels.reshape(batch) if flat else labels, expected,
                          "one float target per example and label (regression)")
            labels = labels.float().view(expected)
        elif problem == "single_label_classification":
            if labels.is_floating_point():
                raise ValueError("labels must be integer class ids for single_label_classification, got floats")
            _check_labels("labels", labels.view(-1), (batch,), "one class id per example")
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_labels):
                raise ValueError(f"labels must be class ids in [0, num_labels={self.num_labels})")
            labels = labels.long()
        elif problem == "multi_label_classification":
            _check_labels("labels", labels, (batch, self.num_labels), "a 0/1 vector of num_labels per example")
            labels = labels.float()
        else:
            raise ValueError(f"config.problem_type {problem!r} is not one of regression, single_label_classification, "
                             "multi_label_classification")
        return ForSequenceClassificationLoss(labels, logits.float(), self.config)


class BertForMultipleChoice(BertPreTrainedModel):
    """Each (context, choice) pair is encoded; a linear score on its pooled [CLS]; softmax over the choices."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | MultipleChoiceModelOutput:
        source = input_ids if input_ids is not None else inputs_embeds
        if source is None or source.dim() != (3 if input_ids is not None else 4):
            raise ValueError("BertForMultipleChoice expects input_ids of shape (batch, num_choices, seq)")
        batch, num_choices = source.shape[:2]

        def flat(t):  # (batch, num_choices, seq[, hidden]) -> (batch * num_choices, seq[, hidden])
            return None if t is None else t.reshape(batch * num_choices, *t.shape[2:])

        outputs = self.bert(
            flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), flat(inputs_embeds),
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(batch, num_choices)
        loss = None
        if labels is not None:
            _check_labels("labels", labels.view(-1), (batch,), "the index of the right choice per example")
            loss = fixed_cross_entropy(logits.float(), labels.view(-1))
        return MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                         attentions=outputs.attentions)


class BertForTokenClassification(BertPreTrainedModel):
    """A linear classifier on every token's hidden state (NER, POS tagging); label -100 is ignored."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | TokenClassifierOutput:
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))  # (batch, seq, num_labels)
        loss = _token_classification_loss(logits, labels, self.config) if labels is not None else None
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                     attentions=outputs.attentions)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive QA: start and end scores for every token, answer = argmax span (BERT section 4.2)."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(
                f"BertForQuestionAnswering needs config.num_labels=2 (a start and an end score per token), "
                f"got {config.num_labels}"
            )
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        start_positions=None,
        end_positions=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ) -> tuple | QuestionAnsweringModelOutput:
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)  # (batch, seq, 2)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        total_loss = None
        if (start_positions is None) != (end_positions is None):
            raise ValueError("give both start_positions and end_positions, or neither")
        if start_positions is not None:
            batch = start_logits.shape[0]
            start_positions, end_positions = start_positions.view(-1), end_positions.view(-1)
            _check_labels("start_positions", start_positions, (batch,), "one token index per example")
            _check_labels("end_positions", end_positions, (batch,), "one token index per example")
            # positions outside the input (answer truncated away) are clamped to `seq` and ignored, as in the
            # original implementation: transformers' ForQuestionAnsweringLoss, the mean of the start and end losses
            total_loss = ForQuestionAnsweringLoss(start_logits.float(), end_logits.float(), start_positions,
                                                  end_positions)
        return QuestionAnsweringModelOutput(
            loss=total_loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


def _token_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Cross-entropy over every labelled token (-100 ignored; transformers' ForTokenClassification), labels checked."""
    _check_labels("labels", labels, logits.shape[:2], "one label id or -100 per input token")
    valid = labels[labels != IGNORE_INDEX]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= config.num_labels):
        raise ValueError(f"labels must be in [0, num_labels={config.num_labels}) or -100")
    return ForTokenClassification(logits.contiguous(), labels.contiguous(), config, ignore_index=IGNORE_INDEX)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.bert and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_bert config
    "AutoModel": BertModel,
    "AutoModelForPreTraining": BertForPreTraining,
    "AutoModelForMaskedLM": BertForMaskedLM,
    "AutoModelForNextSentencePrediction": BertForNextSentencePrediction,
    "AutoModelForSequenceClassification": BertForSequenceClassification,
    "AutoModelForTokenClassification": BertForTokenClassification,
    "AutoModelForQuestionAnswering": BertForQuestionAnswering,
    "AutoModelForMultipleChoice": BertForMultipleChoice,
}


def _auto_map(config_class: type, heads: dict[str, type]) -> dict[str, str]:
    """config.json's `auto_map`: AutoConfig and every head as "module.Class" of the code saved with the weights."""
    entries = {"AutoConfig": config_class, **heads}
    return {auto_name: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto_name, cls in entries.items()}


def _register_for_auto_classes(config_class: type, heads: dict[str, type]) -> None:
    """`register_for_auto_class` for the config and every head: save_pretrained then copies the code files."""
    config_class.register_for_auto_class()
    for auto_name, cls in heads.items():  # a class under several Auto classes keeps the last one
        cls.register_for_auto_class(auto_name)


AUTO_MAP = _auto_map(BertConfig, HEADS)
_register_for_auto_classes(BertConfig, HEADS)

__all__ = ["BertPreTrainedModel"]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
