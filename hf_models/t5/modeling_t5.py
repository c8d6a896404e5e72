"""T5 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer"), built
as the lecture builds it.

T5 is the Transformer's encoder-decoder (Vaswani et al. 2017) with every task cast as text in, text out, and a few
changes to the architecture, each one named piece below with the reason it differs from the original:

- no position embeddings added to the input: a learned scalar bias per head and per *relative* distance bucket is
  added to the attention scores (`relative_position_bucket`, `T5Attention.compute_bias`), computed once per stack by
  its first layer and shared by the others; bidirectional buckets in the encoder, causal ones in the decoder;
- layer normalization without centring and without bias (`T5LayerNorm`, RMSNorm);
- pre-norm residual blocks, x + Dropout(Sublayer(Norm(x))), with a final norm after each stack;
- attention scores not divided by sqrt(d_k): the scaling is folded into the initialisation of W^Q;
- no biases in any projection; one vocabulary (SentencePiece) for input, target and, in T5 v1.0, the output layer,
  whose input is then rescaled by d_model^-0.5; T5 v1.1 (and flan-t5) use a gated-GELU feed-forward network and a
  separate output layer.

Module names are those of transformers' T5 checkpoints (shared, encoder.block.N.layer.0.SelfAttention.q/k/v/o,
relative_attention_bias, layer.1.EncDecAttention, DenseReluDense.wi / wi_0 / wi_1 / wo, layer_norm,
final_layer_norm, lm_head), so a transformers T5 folder (t5-small, flan-t5, ...) loads with `from_pretrained` as it
is, and a saved hf_models T5 loads into transformers' classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.loss.loss_utils import ForMaskedLMLoss
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import can_return_tuple, logging

from .configuration_t5 import T5Config

logger = logging.get_logger(__name__)

# transformers 5.24 renamed generate()'s cache argument and the outputs' field from `past_key_values` to `cache`;
# the cache is passed under the name the installed version uses, and accepted under both.
CACHE_NAME = "cache" if "cache" in getattr(Seq2SeqLMOutput, "__dataclass_fields__", {}) else "past_key_values"
IGNORE_INDEX = -100


# Copied from hf_models.seq2seq.modeling_seq2seq._one_state
def _one_state(past_key_values, cache):
    """The decoder state given under either name (`past_key_values` before transformers 5.24, `cache` since)."""
    if past_key_values is not None and cache is not None and past_key_values is not cache:
        raise ValueError("give the decoder state as past_key_values or as cache, not both")
    return cache if cache is not None else past_key_values


# Copied from hf_models.seq2seq.modeling_seq2seq.shift_tokens_right
def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs from labels: y_0 = decoder start, y_t = label_{t-1}; ignored labels (-100) become padding."""
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    shifted.masked_fill_(shifted == IGNORE_INDEX, pad_token_id)
    return shifted


# Copied from hf_models.seq2seq.modeling_seq2seq._check_labels with target_vocab_size->vocab_size
def _check_labels(labels: torch.Tensor, vocab_size: int) -> None:
    """Labels are target token ids or -100 (ignored)."""
    if labels.dim() != 2:
        raise ValueError(f"labels must have shape (batch, target_length), got {tuple(labels.shape)}")
    valid = (labels == IGNORE_INDEX) | ((labels >= 0) & (labels < vocab_size))
    if not bool(valid.all()):
        bad = labels[~valid]
        raise ValueError(f"labels hold {bad.numel()} value(s) outside [0, vocab_size={vocab_size}) that are "
                         f"not -100 (ignored), e.g. {int(bad[0])}")


def _check_ids(name: str, ids: torch.Tensor, vocab_size: int) -> None:
    """Token ids inside the vocabulary, as a (batch, length) matrix: one clear error otherwise."""
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, sequence_length), got {tuple(ids.shape)}")
    if torch.compiler.is_compiling() or not ids.numel():  # reading the values would break a compiled graph
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{name} holds the id {high if high >= vocab_size else low}, outside [0, "
                         f"vocab_size={vocab_size}): is the tokenizer the model's?")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Normalization: RMSNorm
# ----------------------------------------------------------------------------------------------------------------------
class T5LayerNorm(nn.Module):
    """y = g * x / sqrt(mean(x^2) + eps) (RMSNorm, Zhang and Sennrich 2019): LayerNorm without the mean subtraction
    and without the bias. T5 keeps only the rescaling, which is what makes training stable, and saves the centring;
    the mean of squares is taken in fp32 even for half-precision inputs."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)  # (..., 1): mean of squares
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states


# ----------------------------------------------------------------------------------------------------------------------
# 2. Word order: relative position buckets
# ----------------------------------------------------------------------------------------------------------------------
def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """The bucket of each relative distance j - i (key minus query position), section 2.1 of the T5 paper.

    The original Transformer adds a position vector to each input embedding; T5 instead adds to the score of query i
    for key j a learned scalar b[bucket(j - i)] (one per head), so the model sees how far apart two tokens are, not
    where they are (Shaw et al. 2018, simplified). Half of the buckets are exact distances 0, 1, ..., the other half
    cover logarithmically wider ranges up to `max_distance`, beyond which every distance shares the last bucket.
    Bidirectional (the encoder): half of the buckets for keys before the query, half for keys after it. Causal (the
    decoder): only keys at or before the query exist, so every bucket goes to distances into the past.
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).to(torch.long) * num_buckets  # keys after the query
        distance = relative_position.abs()
    else:
        distance = -torch.clamp(relative_position, max=0)  # how far into the past; future keys count as 0
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # log(distance / max_exact) / log(max_distance / max_exact) in [0, 1) for max_exact <= distance < max_distance
    distance_if_large = max_exact + (
        torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    distance_if_large = torch.clamp(distance_if_large, max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, distance_if_large)


# Copied from hf_models.transformer.modeling_transformer.causal_mask
def causal_mask(query_length: int, key_length: int, device=None) -> torch.Tensor:
    """(query_length, key_length) booleans, True where query i may see key j: j <= i + (key_length - query_length).

    The decoder predicts word t from words < t; in training it reads the whole target at once, so without this mask
    position t would attend to the word it must predict (section 3.2.3). With a cache of earlier positions, the
    queries are the last `query_length` of `key_length` positions.
    """
    offset = key_length - query_length
    return torch.ones(query_length, key_length, dtype=torch.bool, device=device).tril(diagonal=offset)


# Copied from hf_models.transformer.modeling_transformer.PackedTokens
class PackedTokens:
    """The real tokens of a padded batch, packed into one (tokens, features) matrix, and back.

    Everything in a layer but attention works position by position (the projections, the feed-forward network,
    LayerNorm, dropout, the residual sums), so those run over the real tokens only and skip the padding's share of
    the matrix products; attention unpacks its queries, keys and values to (batch, seq, ...) where positions matter
    (the "unpadding" of FlashAttention's variable-length kernels and ModernBERT). Packed rows are batch-major.
    """

    def __init__(self, keep: torch.Tensor):
        self.batch, self.seq = keep.shape  # keep: (batch, seq) booleans, True for the tokens that are computed
        self.index = keep.reshape(-1).nonzero().squeeze(1)  # (tokens,) positions in the flattened batch

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.batch * self.seq, *x.shape[2:]).index_select(0, self.index)  # (tokens, ...)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        full = x.new_zeros(self.batch * self.seq, *x.shape[1:]).index_copy(0, self.index, x)  # zeros at padding
        return full.view(self.batch, self.seq, *x.shape[1:])  # (batch, seq, ...)


# Copied from hf_models.transformer.modeling_transformer._packed_tokens
def _packed_tokens(keep: torch.Tensor | None) -> PackedTokens | None:
    """PackedTokens when some positions are left out; None (nothing to skip) otherwise."""
    return None if keep is None or bool(keep.all()) else PackedTokens(keep.bool())


def attention_bias(position_bias: torch.Tensor | None, allowed: torch.Tensor | None) -> torch.Tensor | None:
    """The additive term of the attention scores: the position bias where a key may be seen, the dtype's minimum
    where it may not (padding, the future). Both broadcast to (batch, heads, queries, keys); None when neither."""
    if allowed is None:
        return position_bias
    dtype = position_bias.dtype if position_bias is not None else torch.float32
    hidden = torch.finfo(dtype).min
    if position_bias is None:
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, hidden)
    return torch.where(allowed, position_bias, torch.tensor(hidden, dtype=dtype, device=position_bias.device))


# ----------------------------------------------------------------------------------------------------------------------
# 3. Attention without the 1/sqrt(d_k) scaling
# ----------------------------------------------------------------------------------------------------------------------
def unscaled_dot_product_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float = 1.0,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T + B) V: the eager path, with B the position bias plus the mask.

    The original Transformer divides the scores by sqrt(d_k) so that their variance does not grow with the head size;
    T5 leaves them unscaled (`scaling` 1.0) and initialises W^Q with a standard deviation sqrt(d_k) times smaller
    instead (Mesh TensorFlow's convention): the same scores at the start, one multiplication fewer.
    """
    # query/key/value: (batch, heads, seq, d_kv); attention_mask: additive, broadcastable to (batch, heads, q, k)
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, seq_q, seq_k)
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value)  # (batch, heads, seq_q, d_kv)
    return output.transpose(1, 2).contiguous(), probs  # (batch, seq_q, heads, d_kv)


# Copied from hf_models.transformer.modeling_transformer._cpu_half_precision_training
def _cpu_half_precision_training(query: torch.Tensor) -> bool:
    """Whether this is bf16/fp16 training on a CPU, where the eager path (two matrix products and a softmax) runs
    forward and backward faster than torch's fused CPU sdpa kernel (1.2x at the base model's sizes with torch 2.13:
    benchmarks/bench_transformer_speed.py); "sdpa" then takes it. The numbers are attention's either way."""
    return query.device.type == "cpu" and query.requires_grad and query.dtype in (torch.bfloat16, torch.float16)


class T5Attention(nn.Module):
    """Multi-head attention, Concat(head_1..head_h) W^O with head_i = softmax(Q_i K_i^T + B) V_i: no biases in the
    projections, no 1/sqrt(d_k) scaling, heads of `d_kv` dimensions (num_heads * d_kv need not equal d_model).

    The first layer of each stack owns `relative_attention_bias`, the learned scalars of the relative position
    buckets (num_buckets x heads); the stack asks it once for the bias B and every layer adds the same B.
    """

    def __init__(self, config: T5Config, has_relative_attention_bias: bool = False, bidirectional: bool = True,
                 is_cross_attention: bool = False, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.num_heads = config.num_heads
        self.head_dim = config.d_kv
        self.inner_dim = self.num_heads * self.head_dim
        self.bidirectional = bidirectional
        self.is_cross_attention = is_cross_attention
        # read by transformers' sdpa kernel: the encoder's and the cross-attention are not causal; the decoder's
        # self-attention always passes its mask (position bias and causal mask in one), so the flag is not used there
        self.is_causal = not bidirectional and not is_cross_attention
        self.layer_idx = layer_idx
        self.dropout = config.dropout_rate
        self.has_relative_attention_bias = has_relative_attention_bias
        self.q = nn.Linear(config.d_model, self.inner_dim, bias=False)
        self.k = nn.Linear(config.d_model, self.inner_dim, bias=False)
        self.v = nn.Linear(config.d_model, self.inner_dim, bias=False)
        self.o = nn.Linear(self.inner_dim, config.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, self.num_heads)

    def compute_bias(self, query_length: int, key_length: int, past_length: int = 0, device=None) -> torch.Tensor:
        """B[h, i, j] = b_h[bucket(j - i)] for queries at positions past_length .. past_length + query_length - 1 and
        keys at 0 .. key_length - 1: (1, heads, query_length, key_length)."""
        device = device if device is not None else self.relative_attention_bias.weight.device
        query_position = torch.arange(query_length, dtype=torch.long, device=device)[:, None] + past_length
        key_position = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(key_position - query_position, bidirectional=self.bidirectional,
                                           num_buckets=self.config.relative_attention_num_buckets,
                                           max_distance=self.config.relative_attention_max_distance)  # (q, k)
        values = self.relative_attention_bias(buckets)  # (q, k, heads)
        return values.permute(2, 0, 1)[None]  # (1, heads, q, k)

    def _stacked(self, projections: tuple[nn.Linear, ...]) -> torch.Tensor:
        """The projections' weights stacked, (n * inner_dim, d_model); kept between calls while no gradient is taken
        and the weights are unchanged (decoding calls the layer once per token)."""
        if len(projections) == 1:
            return projections[0].weight
        weights = [p.weight for p in projections]
        if torch.is_grad_enabled() and any(w.requires_grad for w in weights):
            return torch.cat(weights)
        key = tuple((w.data_ptr(), w._version, w.device, w.dtype) for w in weights)
        cached = self.__dict__.get("_stacked_cache")
        if cached is None or cached[0] != key:
            cached = (key, torch.cat(weights))
            self.__dict__["_stacked_cache"] = cached
        return cached[1]

    def _project(self, x: torch.Tensor, *projections: nn.Linear, tokens: PackedTokens | None = None,
                 rows_per_source: int = 1) -> tuple[torch.Tensor, ...]:
        """x W^Q, x W^K, x W^V (or some of them) as one matrix product with the weights stacked: the same numbers as
        separate products, one pass over the activations. Packed rows (`tokens`) are unpacked after the product; with
        `rows_per_source` k, each k consecutive rows become one row of k times the positions."""
        stacked = F.linear(x, self._stacked(projections))  # (batch, seq, n * inner_dim), or (tokens, ...) packed
        if tokens is not None:
            stacked = tokens.unpack(stacked)  # (batch, seq, n * inner_dim), zeros at the padding
        batch, seq = stacked.shape[:2]
        stacked = stacked.view(batch // rows_per_source, rows_per_source * seq, len(projections), self.num_heads,
                               self.head_dim)
        return stacked.permute(2, 0, 3, 1, 4).unbind(0)  # n x (batch, heads, seq, d_kv)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
        tokens: PackedTokens | None = None,
        source_tokens: PackedTokens | None = None,
        rows_per_source: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: (batch, seq, d_model), or its real tokens packed (`tokens`); key_value_states, for
        cross-attention: the encoder's output, packed by `source_tokens` when the source has padding; bias: the
        additive term of the scores (position bias and mask, from the stack), or None.

        `rows_per_source` k (cross-attention): the batch holds k consecutive rows per source (generate()'s beams or
        samples) and the encoder's output one row per source. A source's k rows query its keys together, as k times
        as many queries: the same numbers as k copies of the source, with the keys and values projected and cached
        once per source.
        """
        batch, seq = (tokens.batch, tokens.seq) if tokens is not None else hidden_states.shape[:2]
        if self.is_cross_attention:  # queries from the decoder; keys and values from the encoder's output
            (query,) = self._project(hidden_states, self.q, tokens=tokens, rows_per_source=rows_per_source)
            if cache is not None and cache.is_updated.get(self.layer_idx):
                # the encoder's keys and values, projected at the first decoding step, are read back
                layer = cache.cross_attention_cache.layers[self.layer_idx]
                key, value = layer.keys, layer.values
            else:
                key, value = self._project(key_value_states, self.k, self.v, tokens=source_tokens)
                if cache is not None:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:  # queries, keys and values from the same sequence
            query, key, value = self._project(hidden_states, self.q, self.k, self.v, tokens=tokens)
            if cache is not None:  # the new positions join the earlier ones: keys and values of the whole prefix
                key, value = cache.self_attention_cache.update(key, value, self.layer_idx)

        # the probabilities are materialised by the eager path only (ALL_ATTENTION_FUNCTIONS[...] rather than
        # .get_interface, which transformers 5.0 lacks)
        implementation = self.config._attn_implementation
        eager = output_attentions or implementation in (None, "eager") or (
            implementation == "sdpa" and _cpu_half_precision_training(query))
        attention: Callable = unscaled_dot_product_attention if eager else ALL_ATTENTION_FUNCTIONS[implementation]
        if bias is not None and bias.dtype != query.dtype:  # half precision: the bias in the scores' dtype
            bias = bias.to(query.dtype).clamp(min=torch.finfo(query.dtype).min)
        context, probs = attention(
            self,
            query,
            key,
            value,
            bias,
            dropout=self.dropout if self.training else 0.0,
            scaling=1.0,  # no 1/sqrt(d_k): folded into W^Q's initialisation
            is_causal=False,  # the causal mask, where there is one, is part of `bias`
        )
        context = context.reshape(batch, seq, self.inner_dim)  # (batch, seq, heads * d_kv): the heads concatenated
        if tokens is not None:
            context = tokens.pack(context)  # (tokens, heads * d_kv)
        if probs is not None and rows_per_source > 1:  # (sources, heads, k * seq, S) -> (batch, heads, seq, S)
            probs = probs.view(-1, self.num_heads, rows_per_source, seq, probs.shape[-1]).transpose(1, 2)
            probs = probs.reshape(batch, self.num_heads, seq, -1)
        return self.o(context), probs if output_attentions else None


# ----------------------------------------------------------------------------------------------------------------------
# 4. The feed-forward network: ReLU (T5 v1.0) or gated GELU (T5 v1.1)
# ----------------------------------------------------------------------------------------------------------------------
class T5DenseActDense(nn.Module):
    """FFN(x) = act(x W_i) W_o (T5 v1.0: ReLU): the Transformer's feed-forward network without its biases."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACT2FN[config.dense_act_fn]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi(hidden_states))))


class T5DenseGatedActDense(nn.Module):
    """FFN(x) = (act(x W_i0) * x W_i1) W_o (T5 v1.1: GEGLU, Shazeer 2020, "GLU Variants Improve Transformer"): a
    second projection gates the activation elementwise, which improved T5's quality at the same compute."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACT2FN[config.dense_act_fn]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        gate = self.act(self.wi_0(hidden_states))  # (batch, seq, d_ff)
        return self.wo(self.dropout(gate * self.wi_1(hidden_states)))


# ----------------------------------------------------------------------------------------------------------------------
# 5. Pre-norm residual sub-layers and the block
# ----------------------------------------------------------------------------------------------------------------------
def _clamp_half(hidden_states: torch.Tensor) -> torch.Tensor:
    """In fp16, values past the largest finite number are clamped back (T5's activations grow large enough to
    overflow fp16, as transformers' T5 does; bf16 and fp32 are left alone)."""
    if hidden_states.dtype != torch.float16:
        return hidden_states
    limit = torch.finfo(torch.float16).max
    limit = torch.where(torch.isinf(hidden_states).any(), limit - 1000, limit)
    return torch.clamp(hidden_states, min=-limit, max=limit)


class T5LayerSelfAttention(nn.Module):
    """x + Dropout(SelfAttention(RMSNorm(x))): pre-norm (Xiong et al. 2020), unlike the original post-norm
    LayerNorm(x + Sublayer(x)): the residual stream is never normalised, so gradients pass through it unchanged and
    training needs no warm-up to stay stable."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, bidirectional: bool, layer_idx: int):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, bidirectional, layer_idx=layer_idx)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, bias=None, cache=None, output_attentions=False, tokens=None):
        attended, probs = self.SelfAttention(self.layer_norm(hidden_states), bias=bias, cache=cache,
                                             output_attentions=output_attentions, tokens=tokens)
        return hidden_states + self.dropout(attended), probs


class T5LayerCrossAttention(nn.Module):
    """x + Dropout(EncDecAttention(RMSNorm(x), encoder output)): the decoder reads the source (no position bias:
    the distance between a target and a source position means nothing)."""

    def __init__(self, config: T5Config, layer_idx: int):
        super().__init__()
        self.EncDecAttention = T5Attention(config, is_cross_attention=True, layer_idx=layer_idx)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, encoder_hidden_states, bias=None, cache=None, output_attentions=False,
                tokens=None, source_tokens=None, rows_per_source=1):
        attended, probs = self.EncDecAttention(self.layer_norm(hidden_states), key_value_states=encoder_hidden_states,
                                               bias=bias, cache=cache, output_attentions=output_attentions,
                                               tokens=tokens, source_tokens=source_tokens,
                                               rows_per_source=rows_per_source)
        return hidden_states + self.dropout(attended), probs


class T5LayerFF(nn.Module):
    """x + Dropout(FFN(RMSNorm(x))): the pre-norm feed-forward sub-layer."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.dropout(self.DenseReluDense(self.layer_norm(hidden_states)))


class T5Block(GradientCheckpointingLayer):
    """One layer: self-attention, (in the decoder) cross-attention, the feed-forward network: `layer.0`, `layer.1`,
    `layer.2` in the checkpoints. Only the first block of a stack has the relative position bias table. With gradient
    checkpointing (`model.gradient_checkpointing_enable()`), its activations are recomputed in the backward pass."""

    def __init__(self, config: T5Config, is_decoder: bool, layer_idx: int):
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, layer_idx == 0, not is_decoder, layer_idx)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config, layer_idx))
        self.layer.append(T5LayerFF(config))

    def forward(self, hidden_states, self_bias=None, encoder_hidden_states=None, cross_bias=None, cache=None,
                output_attentions=False, tokens=None, source_tokens=None, rows_per_source=1):
        """hidden_states: (batch, seq, d_model), or the real tokens packed by `tokens` (then (tokens, d_model));
        `source_tokens` packs the encoder's output, `rows_per_source`: see T5Attention."""
        hidden_states, self_probs = self.layer[0](hidden_states, self_bias, cache, output_attentions, tokens)
        hidden_states = _clamp_half(hidden_states)
        cross_probs = None
        if self.is_decoder:
            hidden_states, cross_probs = self.layer[1](hidden_states, encoder_hidden_states, cross_bias, cache,
                                                       output_attentions, tokens, source_tokens, rows_per_source)
            hidden_states = _clamp_half(hidden_states)
        hidden_states = _clamp_half(self.layer[-1](hidden_states))
        return hidden_states, self_probs, cross_probs


# ----------------------------------------------------------------------------------------------------------------------
# 6. The encoder and the decoder
# ----------------------------------------------------------------------------------------------------------------------
class T5Stack(nn.Module):
    """The encoder (bidirectional self-attention) or the decoder (causal self-attention and cross-attention):
    Dropout(E[x]) through the blocks, then RMSNorm and dropout. No position embedding is added to the input: the
    first block's relative position bias B is computed once and added to the scores of every block.

    The token embeddings are the model's `shared` matrix, read here but not registered as a sub-module: a checkpoint
    holds it once, as `shared.weight` (transformers' T5 ties `encoder.embed_tokens` and `decoder.embed_tokens` to it).
    """

    main_input_name = "input_ids"  # read by generate() on the model's `encoder`

    def __init__(self, config: T5Config, embed_tokens: nn.Embedding, is_decoder: bool):
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self._embedding = (embed_tokens,)  # a tuple: not a sub-module, so not a second copy in the state dict
        layers = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = nn.ModuleList(T5Block(config, is_decoder, i) for i in range(layers))
        self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    @property
    def embed_tokens(self) -> nn.Embedding:
        return self._embedding[0]

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self._embedding = (value,)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        tokens: PackedTokens | None = None,
        rows_per_source: int = 1,
    ):
        """The encoder: input_ids (batch, S) and their attention_mask -> BaseModelOutput. The decoder: the target
        prefix, its optional mask (batch, past + T), the encoder's output and mask, the cache ->
        BaseModelOutputWithPastAndCrossAttentions (the cache under the installed transformers' name).

        Skipping work that no output needs: in training, the encoder runs its layers over the source's real tokens
        only (PackedTokens; its output is zeros at the padding, which no query reads). `tokens` (decoder, no cache):
        only those positions are computed and `last_hidden_state` comes back packed, (tokens, d_model) (the positions
        a training loss reads and the earlier ones they attend to). `rows_per_source` (decoder): the encoder's output
        has one row per k rows of the target (generate()'s beams), see T5Attention."""
        config = self.config
        if (input_ids is None) == (inputs_embeds is None):
            side = "decoder_input_ids (or labels)" if self.is_decoder else "input_ids"
            raise ValueError(f"give exactly one of {side} and its embeddings")
        if input_ids is not None:
            _check_ids("decoder_input_ids" if self.is_decoder else "input_ids", input_ids, config.vocab_size)
            inputs_embeds = self.embed_tokens(input_ids)  # (batch, T, d_model)
        batch, length = inputs_embeds.shape[:2]
        device = inputs_embeds.device
        cache = _one_state(past_key_values, cache) if self.is_decoder else None  # the encoder keeps no state
        if self.training and (use_cache or cache is not None) and any(b.gradient_checkpointing for b in self.block):
            logger.warning_once("T5: the decoding cache is not kept with gradient checkpointing (the backward pass "
                                "reruns each block): use_cache=False")
            cache, use_cache = None, False
        if self.is_decoder and use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        past = cache.get_seq_length() if cache is not None else 0
        total = past + length

        # the additive term of the scores: the first block's relative position bias, and the masks
        position_bias = self.block[0].layer[0].SelfAttention.compute_bias(length, total, past, device)  # (1, h, T, K)
        allowed = causal_mask(length, total, device)[None, None] if self.is_decoder else None  # (1, 1, T, K)
        if attention_mask is not None:
            if attention_mask.shape != (batch, total):
                name = "decoder_attention_mask" if self.is_decoder else "attention_mask"
                raise ValueError(f"{name} has shape {tuple(attention_mask.shape)}, expected {(batch, total)}")
            if not bool(attention_mask.all()):
                keys = attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, K): no query sees a padding key
                allowed = keys if allowed is None else allowed & keys
        self_bias = attention_bias(position_bias, allowed)
        cross_bias, source_tokens, memory = None, None, encoder_hidden_states
        if self.is_decoder:
            if encoder_hidden_states is None:
                raise ValueError("the decoder needs the encoder's output (encoder_hidden_states)")
            if encoder_hidden_states.shape[0] * rows_per_source != batch:
                raise ValueError(f"decoder_input_ids has batch size {batch} but the source has "
                                 f"{encoder_hidden_states.shape[0]}"
                                 + (f" ({rows_per_source} rows per source)" if rows_per_source > 1 else ""))
            if encoder_attention_mask is not None:
                if tuple(encoder_attention_mask.shape) != tuple(encoder_hidden_states.shape[:2]):
                    raise ValueError(f"attention_mask has shape {tuple(encoder_attention_mask.shape)}, expected "
                                     f"{tuple(encoder_hidden_states.shape[:2])}")
                if not bool(encoder_attention_mask.all()):  # no position bias across the two sequences
                    cross_bias = attention_bias(None, encoder_attention_mask.bool()[:, None, None, :]).to(
                        position_bias.dtype)
                    if cache is None or not cache.is_updated.get(0):  # keys and values from the real tokens only
                        source_tokens = PackedTokens(encoder_attention_mask.bool())
                        memory = source_tokens.pack(encoder_hidden_states)  # (source tokens, d_model)
        elif self.training and attention_mask is not None:  # the encoder in training: the padding is skipped
            tokens = _packed_tokens(attention_mask)
        if self.is_decoder and tokens is not None and (cache is not None or output_hidden_states):
            raise ValueError("packed decoder positions (tokens) are for training: without a cache or hidden states")

        hidden_states = self.dropout(inputs_embeds if tokens is None else tokens.pack(inputs_embeds))
        unpack = tokens.unpack if tokens is not None else (lambda x: x)
        all_hidden = () if output_hidden_states else None
        self_attentions = () if output_attentions else None
        cross_attentions = () if output_attentions and self.is_decoder else None
        for block in self.block:
            if output_hidden_states:
                all_hidden += (unpack(hidden_states),)
            hidden_states, self_probs, cross_probs = block(hidden_states, self_bias, memory, cross_bias, cache,
                                                           bool(output_attentions), tokens, source_tokens,
                                                           rows_per_source)
            if output_attentions:
                self_attentions += (self_probs,)
                if self.is_decoder:
                    cross_attentions += (cross_probs,)
        hidden_states = self.dropout(self.final_layer_norm(hidden_states))
        if output_hidden_states:
            all_hidden += (unpack(hidden_states),)  # the last entry is the normalised output
        if not self.is_decoder:
            hidden_states = unpack(hidden_states)  # (batch, S, d_model)

        if self.is_decoder:
            outputs = BaseModelOutputWithPastAndCrossAttentions(
                last_hidden_state=hidden_states, **{CACHE_NAME: cache if use_cache else None},
                hidden_states=all_hidden, attentions=self_attentions, cross_attentions=cross_attentions)
        else:
            outputs = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden,
                                      attentions=self_attentions)
        return outputs if return_dict is not False else outputs.to_tuple()


# ----------------------------------------------------------------------------------------------------------------------
# 7. The models
# ----------------------------------------------------------------------------------------------------------------------
class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"  # transformers' T5's (no such attribute: the heads share the base's names)
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules: ClassVar[list[str]] = ["T5Block"]
    # older checkpoints hold the embedding matrix three times and a cross-attention position table nobody reads
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [
        r"^(encoder|decoder)\.embed_tokens\.weight$",
        r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight",
    ]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Mesh TensorFlow's initialisation, as transformers' T5: N(0, 1) embeddings, N(0, d_in^-1/2) projections
        (unit-variance outputs), and W^Q at N(0, (d_model d_kv)^-1/2): the 1/sqrt(d_kv) that T5 leaves out of the
        attention scores. Through transformers.initialization, which leaves a tensor loaded from a checkpoint as it
        is."""
        factor = self.config.initializer_factor
        d_model, d_kv, d_ff = self.config.d_model, self.config.d_kv, self.config.d_ff
        if isinstance(module, T5LayerNorm):
            init.constant_(module.weight, factor * 1.0)
        elif isinstance(module, (T5Model, T5ForConditionalGeneration, T5EncoderModel)):
            init.normal_(module.shared.weight, mean=0.0, std=factor * 1.0)
            if getattr(module, "lm_head", None) is not None and not self.config.tie_word_embeddings:
                init.normal_(module.lm_head.weight, mean=0.0, std=factor * 1.0)
        elif isinstance(module, T5DenseActDense):
            init.normal_(module.wi.weight, mean=0.0, std=factor * d_model**-0.5)
            init.normal_(module.wo.weight, mean=0.0, std=factor * d_ff**-0.5)
        elif isinstance(module, T5DenseGatedActDense):
            init.normal_(module.wi_0.weight, mean=0.0, std=factor * d_model**-0.5)
            init.normal_(module.wi_1.weight, mean=0.0, std=factor * d_model**-0.5)
            init.normal_(module.wo.weight, mean=0.0, std=factor * d_ff**-0.5)
        elif isinstance(module, T5Attention):
            init.normal_(module.q.weight, mean=0.0, std=factor * (d_model * d_kv) ** -0.5)
            init.normal_(module.k.weight, mean=0.0, std=factor * d_model**-0.5)
            init.normal_(module.v.weight, mean=0.0, std=factor * d_model**-0.5)
            init.normal_(module.o.weight, mean=0.0, std=factor * (module.inner_dim) ** -0.5)
            if module.has_relative_attention_bias:
                init.normal_(module.relative_attention_bias.weight, mean=0.0, std=factor * d_model**-0.5)

    # Copied from hf_models.rnn.modeling_rnn.RnnPreTrainedModel.from_pretrained
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """transformers' from_pretrained, then every weight moved to freshly allocated (aligned) memory.

        Weights read from a safetensors file can sit at addresses that are not 64-byte aligned; the CPU kernels then
        take other vector paths and a reloaded model differs from the saved one in the last bits. Copying them gives
        bit-identical outputs after a save/load roundtrip (and frees the file mapping).
        """
        result = super().from_pretrained(*args, **kwargs)
        model = result[0] if isinstance(result, tuple) else result
        with torch.no_grad():
            for param in model.parameters():  # a tied parameter is one object: copied once, still shared
                if param.device.type == "cpu" and param.data_ptr() % 64 != 0:
                    param.data = param.data.clone()
        return result

    # Copied from hf_models.rnn.modeling_rnn.RnnPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights (safetensors), config and, for trust_remote_code, the code with an auto_map of every head."""
        if self._auto_class is not None:
            self.config.auto_map = dict(AUTO_MAP)
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs from labels (transformers' T5 name): the decoder start token, then the labels shifted."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)


def _encoder_outputs(encoder_outputs) -> BaseModelOutput:
    """Encoder outputs given as a tuple (return_dict=False) as a BaseModelOutput."""
    if isinstance(encoder_outputs, (tuple, list)):
        return BaseModelOutput(last_hidden_state=encoder_outputs[0],
                               hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                               attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None)
    return encoder_outputs


class T5Model(T5PreTrainedModel):
    r"""The bare encoder-decoder: the decoder's last hidden states (before the output layer)."""

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)  # one vocabulary for input and target
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        self.decoder = T5Stack(config, self.shared, is_decoder=True)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.set_input_embeddings(new_embeddings)
        self.decoder.set_input_embeddings(new_embeddings)

    def get_encoder(self, *args, **kwargs):
        return self.encoder

    def get_decoder(self, *args, **kwargs):
        return self.decoder

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        cache: EncoderDecoderCache | None = None,
        **kwargs,
    ) -> Seq2SeqModelOutput:
        """Encode the source (unless `encoder_outputs` are given) and decode `decoder_input_ids`."""
        return _encode_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                              encoder_outputs, _one_state(past_key_values, cache), inputs_embeds,
                              decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states)


def _encode_decode(model, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, cache,
                   inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states,
                   decoder_tokens=None, rows_per_source=1) -> Seq2SeqModelOutput:
    """The encoder (unless its outputs are given), then the decoder: what T5Model and the generation head share.
    `decoder_tokens` and `rows_per_source`: see T5Stack.forward."""
    if encoder_outputs is None:
        encoder_outputs = model.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                        output_attentions=output_attentions,
                                        output_hidden_states=output_hidden_states, return_dict=True)
    encoder_outputs = _encoder_outputs(encoder_outputs)
    if decoder_input_ids is None and decoder_inputs_embeds is None:
        raise ValueError("decoder_input_ids (or labels, for T5ForConditionalGeneration) are required")
    decoder_outputs = model.decoder(
        input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
        encoder_hidden_states=encoder_outputs.last_hidden_state, encoder_attention_mask=attention_mask,
        inputs_embeds=decoder_inputs_embeds, cache=cache, use_cache=bool(use_cache),
        output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        tokens=decoder_tokens, rows_per_source=rows_per_source)
    return Seq2SeqModelOutput(
        last_hidden_state=decoder_outputs.last_hidden_state,
        **{CACHE_NAME: getattr(decoder_outputs, CACHE_NAME)},
        decoder_hidden_states=decoder_outputs.hidden_states,
        decoder_attentions=decoder_outputs.attentions,
        cross_attentions=decoder_outputs.cross_attentions,
        encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        encoder_hidden_states=encoder_outputs.hidden_states,
        encoder_attentions=encoder_outputs.attentions,
    )


_LOSS_SLICE_ELEMENTS = 1 << 22  # logits per slice of the loss on a CPU (16 MB in fp32: they stay in the cache)
_TRANSPOSED_OUTPUT_ROWS = 64  # decoding rows up to which the output layer reads W transposed (CPU)


# Copied from hf_models.gpt.modeling_gpt._plain_output_layer
def _plain_output_layer(layer: nn.Module) -> bool:
    """An nn.Linear without bias: the layer LinearCrossEntropy stands for."""
    return type(layer) is nn.Linear and layer.bias is None


# Copied from hf_models.gpt.modeling_gpt.LinearCrossEntropy
class LinearCrossEntropy(torch.autograd.Function):
    """logits z = h W^T and L = sum over labelled rows of (logsumexp(z) - z_y) / divisor, whose gradient
    dL/dz = (softmax(z) - onehot(y)) / divisor is formed once, in the backward pass, slice by slice of rows: no
    log-softmax tensor is stored and none is differentiated (`F.cross_entropy` makes both, over rows x vocabulary).
    The logits are an output too, differentiable: a gradient reaching them is added to the loss's."""

    @staticmethod
    def forward(ctx, hidden, weight, labels, divisor, rows_per_slice: int):
        # hidden (N, d), weight (V, d), labels (N,) with IGNORE_INDEX where there is no target
        with torch.autocast(hidden.device.type, enabled=False):
            logits = hidden @ weight.t()  # (N, V)
            keep = labels != IGNORE_INDEX
            target = labels.masked_fill(~keep, 0)
            lse = logits.new_empty(logits.shape[0], dtype=torch.float32)  # (N,) logsumexp of each row
            for i in range(0, logits.shape[0], rows_per_slice):
                z = logits[i: i + rows_per_slice].float()
                top = z.amax(dim=-1, keepdim=True)  # (rows, 1): logsumexp z = max + log sum exp(z - max)
                # exponents below -87 raised to it, as in the backward pass (their terms are below 1.6e-38)
                lse[i: i + rows_per_slice] = (z - top).clamp_(min=-87.0).exp_().sum(dim=-1).log_() + top.squeeze(1)
            picked = logits.gather(1, target[:, None]).squeeze(1).float()  # (N,) z_y
            loss = torch.where(keep, lse - picked, 0.0).sum() / divisor  # -log softmax(z)_y summed / divisor
        ctx.save_for_backward(hidden, weight, logits, lse, target, keep)
        ctx.divisor, ctx.rows_per_slice = divisor, rows_per_slice
        return loss, logits

    @staticmethod
    def backward(ctx, grad_loss, grad_logits):
        hidden, weight, logits, lse, target, keep = ctx.saved_tensors
        rows = ctx.rows_per_slice
        with torch.autocast(hidden.device.type, enabled=False):
            scale = (keep * (grad_loss / ctx.divisor))[:, None].float()  # (N, 1): dLoss / d(each row's loss)
            minus_one = scale.new_full((min(rows, logits.shape[0]), 1), -1.0)
            grad = torch.empty_like(logits)  # (N, V) dLoss/dz
            for i in range(0, logits.shape[0], rows):
                out = grad[i: i + rows]
                z = logits[i: i + rows].float()
                p = torch.sub(z, lse[i: i + rows, None], out=out if out.dtype == torch.float32 else None)
                # softmax(z) = exp(z - logsumexp z); exponents below -87 are raised to it (exp(-87) = 1.6e-38, fp32's
                # smallest normal numbers): torch's CPU exp is 2-5x slower on results that underflow (wide logits, e.g.
                # an untied output layer at N(0, 1)), and no gradient moves by more than 1e-37
                p.clamp_(min=-87.0).exp_()
                p.scatter_add_(1, target[i: i + rows, None], minus_one[: p.shape[0]])  # - onehot(y)
                p.mul_(scale[i: i + rows])
                if grad_logits is not None:
                    p.add_(grad_logits[i: i + rows])
                if p is not out:
                    out.copy_(p)
            grad_hidden = grad @ weight if ctx.needs_input_grad[0] else None  # (N, d)
            grad_weight = grad.t() @ hidden if ctx.needs_input_grad[1] else None  # (V, d)
        return grad_hidden, grad_weight, None, None, None


class T5ForConditionalGeneration(T5PreTrainedModel, GenerationMixin):
    r"""The encoder-decoder with its output layer, p(y_t | y_<t, x) = softmax(h_t W^T): text in, text out, with
    `generate()` (greedy, beam search, sampling) and the decoder's self- and cross-attention keys and values cached.

    T5 v1.0 (`tie_word_embeddings`): W is the embedding matrix and h_t is first multiplied by d_model^-0.5, since the
    embeddings are initialised at N(0, 1) for the input side. T5 v1.1: W is a separate output layer, h_t unscaled.
    Loads transformers' T5 checkpoints (the same module names).
    """

    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "shared.weight"}

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        self.decoder = T5Stack(config, self.shared, is_decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    get_input_embeddings = T5Model.get_input_embeddings
    set_input_embeddings = T5Model.set_input_embeddings
    get_encoder = T5Model.get_encoder
    get_decoder = T5Model.get_decoder

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for `DataCollatorForSeq2Seq`: the labels shifted right."""
        return self._shift_right(labels)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        cache: EncoderDecoderCache | None = None,
        rows_per_source: int = 1,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        """Logits over the vocabulary and, with `labels`, the token cross-entropy (-100 ignored; the mean over the
        labelled tokens, or their sum over `num_items_in_batch` when the Trainer gives it). Without decoder inputs,
        they are the labels shifted right behind the decoder start token.

        In training with `config.sparse_prediction` (the default), the decoder computes only the positions up to
        each row's last label and the output layer only the labelled ones (`logits` is then (labelled tokens, V));
        the encoder skips the source's padding. `rows_per_source` k: `decoder_input_ids` holds k consecutive rows per
        source and the source one row (generate()'s beams and samples, see `_expand_inputs_for_generation`)."""
        if labels is not None:
            _check_labels(labels, self.config.vocab_size)
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self._shift_right(labels)
            target_shape = (decoder_input_ids if decoder_input_ids is not None else decoder_inputs_embeds).shape[:2]
            if tuple(labels.shape) != tuple(target_shape):
                raise ValueError(f"labels have shape {tuple(labels.shape)} but the decoder inputs have shape "
                                 f"{tuple(target_shape)}")
        if not isinstance(rows_per_source, int) or rows_per_source < 1:
            raise ValueError(f"rows_per_source must be a positive integer, got {rows_per_source!r}")
        state = _one_state(past_key_values, cache)
        copies = 1
        if (rows_per_source > 1 and use_cache and labels is None and decoder_attention_mask is None
                and (state is None or state.get_seq_length() == 0) and decoder_input_ids is not None
                and _same_rows(decoder_input_ids, rows_per_source)):
            # the first step of k rows that share a source and a prefix (generate()'s beams or samples before they
            # part): decoded once per source, then its logits and self-attention cache copied to the k rows
            copies, rows_per_source = rows_per_source, 1
            decoder_input_ids = decoder_input_ids[::copies]  # (sources, T)
            state = state if state is not None else EncoderDecoderCache(DynamicCache(), DynamicCache())
        sparse = (labels is not None and self.training and self.config.sparse_prediction and not use_cache
                  and not output_hidden_states)
        tokens = None
        if sparse:  # the decoder computes the prefix each row's labels need: up to its last label
            positions = torch.arange(labels.shape[1], device=labels.device)
            last_label = torch.where(labels != IGNORE_INDEX, positions, -1).amax(dim=1)  # (batch,)
            tokens = _packed_tokens(positions[None, :] <= last_label[:, None])  # (batch, T) kept positions
        outputs = _encode_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                 encoder_outputs, state, inputs_embeds, decoder_inputs_embeds, use_cache,
                                 output_attentions, output_hidden_states, tokens, rows_per_source)
        hidden = outputs.last_hidden_state  # (batch, T, d_model), or (kept tokens, d_model) packed
        if self.config.scale_decoder_outputs:  # T5 v1.0: the tied output layer reads h / sqrt(d_model)
            hidden = hidden * self.config.d_model**-0.5
        loss = None
        if sparse:  # the output layer and the loss over the labelled positions only
            kept_labels = (tokens.pack(labels) if tokens is not None else labels).reshape(-1)
            selected = kept_labels != IGNORE_INDEX  # the padding's projection would be thrown away
            loss, logits = self._output_layer_and_loss(hidden.reshape(-1, hidden.shape[-1])[selected],
                                                       kept_labels[selected], kwargs.get("num_items_in_batch"))
        else:
            logits = self._output_layer(hidden)  # (batch, T, V)
            if labels is not None:
                loss = ForMaskedLMLoss(logits, labels, vocab_size=self.config.vocab_size,
                                       num_items_in_batch=kwargs.get("num_items_in_batch"), ignore_index=IGNORE_INDEX)
        decoder_outputs = (outputs.decoder_hidden_states, outputs.decoder_attentions, outputs.cross_attentions)
        if copies > 1:
            state.self_attention_cache.batch_repeat_interleave(copies)  # (sources * k, heads, T, d_kv)
            logits = logits.repeat_interleave(copies, dim=0)  # (sources * k, T, V)
            decoder_outputs = tuple(None if each is None else tuple(t.repeat_interleave(copies, dim=0) for t in each)
                                    for each in decoder_outputs)
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
            decoder_hidden_states=decoder_outputs[0],
            decoder_attentions=decoder_outputs[1],
            cross_attentions=decoder_outputs[2],
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )

    def _output_layer_and_loss(self, hidden: torch.Tensor, labels: torch.Tensor, num_items_in_batch=None
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of the labelled rows, hidden (N, d_model) and labels (N,): the sum of their cross-entropies
        over `num_items_in_batch` (the Trainer's count across devices and accumulation steps) or their mean. On a CPU
        the output layer and the loss are one function (LinearCrossEntropy); elsewhere nn.Linear and F.cross_entropy."""
        divisor = num_items_in_batch if num_items_in_batch is not None else max(labels.numel(), 1)
        if torch.is_tensor(divisor):
            divisor = divisor.to(hidden.device)
        weight = self.lm_head.weight
        if hidden.device.type == "cpu" and _plain_output_layer(self.lm_head) and not torch.compiler.is_compiling():
            if torch.is_autocast_enabled(hidden.device.type):  # both products in autocast's dtype, as nn.Linear's
                dtype = torch.get_autocast_dtype(hidden.device.type)
                hidden, weight = hidden.to(dtype), weight.to(dtype)
            rows = max(1, _LOSS_SLICE_ELEMENTS // weight.shape[0])
            return LinearCrossEntropy.apply(hidden, weight, labels, divisor, rows)
        logits = self.lm_head(hidden)  # (N, V)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum") / divisor
        return loss, logits

    # Copied from hf_models.gpt.modeling_gpt.GPTForCausalLM._output_layer
    def _output_layer(self, hidden: torch.Tensor) -> torch.Tensor:
        """h W^T over the vocabulary. Decoding on a CPU (at most `_TRANSPOSED_OUTPUT_ROWS` rows: the sequences or beams
        of one step, no gradient), the product reads a copy of W kept while the weights are unchanged, for V x d more
        memory: in fp32 transposed, a layout the CPU's kernels stream faster (twice as fast for one row, 5-20% for 4
        to 64 rows: benchmarks/bench_gpt_speed.py); under autocast in its dtype (bf16), cast once rather than at
        every step, in W's own layout (the faster one for bf16)."""
        weight = self.lm_head.weight
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
        if (hidden.shape[:-1].numel() > _TRANSPOSED_OUTPUT_ROWS or device != "cpu" or torch.is_grad_enabled()
                or hidden.dtype not in (weight.dtype, dtype) or torch.compiler.is_compiling()
                or not _plain_output_layer(self.lm_head)):
            return self.lm_head(hidden)
        key = (weight.data_ptr(), weight._version, dtype, tuple(weight.shape))
        cached = self.__dict__.get("_transposed_output_weight")
        transposed = dtype == torch.float32
        if cached is None or cached[0] != key:
            copy = weight.t() if transposed else weight  # (d, V) or (V, d)
            cached = (key, copy.to(dtype).contiguous())
            self.__dict__["_transposed_output_weight"] = cached
        hidden = hidden.to(dtype)
        if not transposed:
            return F.linear(hidden, cached[1])  # (..., V)
        return (hidden.reshape(-1, hidden.shape[-1]) @ cached[1]).view(*hidden.shape[:-1], -1)  # (..., V)

    # Copied from hf_models.transformer.modeling_transformer.TransformerForConditionalGeneration._reorder_cache
    def _reorder_cache(self, cache, beam_idx: torch.LongTensor):
        """Beam search's reordering after each step: the decoder's self-attention keys and values follow their beams;
        the cross-attention ones are the source's, the same for every beam of a source, so they stay where they are
        (beam search only moves a beam within its own source's beams)."""
        if isinstance(cache, EncoderDecoderCache):
            cache.self_attention_cache.reorder_cache(beam_idx)
        else:
            cache.reorder_cache(beam_idx)
        return cache

    # Copied from hf_models.transformer.modeling_transformer.TransformerForConditionalGeneration._expand_inputs_for_generation
    def _expand_inputs_for_generation(self, expand_size: int = 1, is_encoder_decoder: bool = False,
                                      input_ids: torch.LongTensor | None = None, **model_kwargs):
        """generate()'s copying of the inputs for its beams and samples, except the encoder's output and the source
        mask: each source stays one row (the decoder is told `rows_per_source`), so its cross-attention keys and
        values are projected and cached once rather than once per beam."""
        kept = {key: model_kwargs.pop(key) for key in ("encoder_outputs", "attention_mask") if key in model_kwargs}
        input_ids, model_kwargs = super()._expand_inputs_for_generation(expand_size=expand_size, input_ids=input_ids,
                                                                        **model_kwargs)
        return input_ids, {**model_kwargs, **kept}

    def prepare_inputs_for_generation(
        self,
        decoder_input_ids: torch.LongTensor,
        past_key_values: EncoderDecoderCache | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | None = None,
        use_cache: bool | None = None,
        cache: EncoderDecoderCache | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> dict:
        """With a cache, feed only the target tokens it has not read yet (the last one); otherwise the whole prefix.
        The source is encoded once, before the first step (`encoder_outputs`)."""
        cache = _one_state(past_key_values, cache)
        if cache is not None:
            decoder_input_ids = decoder_input_ids[:, cache.get_seq_length():]
        rows_per_source = 1  # generate()'s beams or samples per source (the source is not copied for them)
        if encoder_outputs is not None:
            sources = (encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else
                       encoder_outputs.last_hidden_state).shape[0]
            rows_per_source = max(decoder_input_ids.shape[0] // max(sources, 1), 1)
        inputs = {
            "input_ids": None,
            "attention_mask": attention_mask,
            "encoder_outputs": encoder_outputs,
            "rows_per_source": rows_per_source,
            "decoder_input_ids": decoder_input_ids,
            "decoder_attention_mask": decoder_attention_mask,
            CACHE_NAME: cache,
            "use_cache": use_cache,
        }
        for key in ("output_attentions", "output_hidden_states"):
            if key in kwargs:
                inputs[key] = kwargs[key]
        return inputs


# Copied from hf_models.transformer.modeling_transformer._same_rows
def _same_rows(ids: torch.Tensor, rows_per_source: int) -> bool:
    """Whether each group of `rows_per_source` consecutive rows holds one sequence k times."""
    if ids.shape[0] % rows_per_source:
        return False
    groups = ids.view(-1, rows_per_source, ids.shape[1])  # (sources, k, T)
    return bool((groups == groups[:, :1]).all())


class T5EncoderModel(T5PreTrainedModel):
    r"""The encoder alone: one d_model vector per input token (sentence embeddings, the text encoder of diffusion
    models). Loads the encoder of any T5 checkpoint (the decoder's weights are left out)."""

    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [
        *T5PreTrainedModel._keys_to_ignore_on_load_unexpected, r"^decoder\.", r"^lm_head\."]

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.set_input_embeddings(new_embeddings)

    def get_encoder(self, *args, **kwargs):
        return self.encoder

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        """The encoder's hidden states (batch, S, d_model), after its final norm."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.t5 and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_t5 config
    "AutoModel": T5Model,
    "AutoModelForSeq2SeqLM": T5ForConditionalGeneration,
    "AutoModelForTextEncoding": T5EncoderModel,  # transformers' Auto class of its T5EncoderModel
}


# Copied from hf_models.bert.modeling_bert._auto_map
def _auto_map(config_class: type, heads: dict[str, type]) -> dict[str, str]:
    """config.json's `auto_map`: AutoConfig and every head as "module.Class" of the code saved with the weights."""
    entries = {"AutoConfig": config_class, **heads}
    return {auto_name: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto_name, cls in entries.items()}


# Copied from hf_models.bert.modeling_bert._register_for_auto_classes
def _register_for_auto_classes(config_class: type, heads: dict[str, type]) -> None:
    """`register_for_auto_class` for the config and every head: save_pretrained then copies the code files."""
    config_class.register_for_auto_class()
    for auto_name, cls in heads.items():  # a class under several Auto classes keeps the last one
        cls.register_for_auto_class(auto_name)


AUTO_MAP = _auto_map(T5Config, HEADS)
_register_for_auto_classes(T5Config, HEADS)

__all__ = [
    "T5Attention",
    "T5LayerNorm",
    "T5PreTrainedModel",
    "T5Stack",
    "causal_mask",
    "relative_position_bucket",
    "shift_tokens_right",
    "unscaled_dot_product_attention",
]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
