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

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.num_heads, self.head_dim).transpose(1, 2)  # (batch, heads, seq, d_kv)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: (batch, seq, d_model); key_value_states, for cross-attention: the encoder's output;
        bias: the additive term of the scores (position bias and mask, from the stack), or None."""
        batch, seq = hidden_states.shape[:2]
        query = self._heads(self.q(hidden_states))  # (batch, heads, seq, d_kv)
        if self.is_cross_attention:  # keys and values from the encoder's output
            if cache is not None and cache.is_updated.get(self.layer_idx):
                # the encoder's keys and values, projected at the first decoding step, are read back
                layer = cache.cross_attention_cache.layers[self.layer_idx]
                key, value = layer.keys, layer.values
            else:
                key, value = self._heads(self.k(key_value_states)), self._heads(self.v(key_value_states))
                if cache is not None:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:  # keys and values from the same sequence
            key, value = self._heads(self.k(hidden_states)), self._heads(self.v(hidden_states))
            if cache is not None:  # the new positions join the earlier ones: keys and values of the whole prefix
                key, value = cache.self_attention_cache.update(key, value, self.layer_idx)

        # the probabilities are materialised by the eager path only (ALL_ATTENTION_FUNCTIONS[...] rather than
        # .get_interface, which transformers 5.0 lacks)
        implementation = self.config._attn_implementation
        eager = output_attentions or implementation in (None, "eager")
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

    def forward(self, hidden_states, bias=None, cache=None, output_attentions=False):
        attended, probs = self.SelfAttention(self.layer_norm(hidden_states), bias=bias, cache=cache,
                                             output_attentions=output_attentions)
        return hidden_states + self.dropout(attended), probs


class T5LayerCrossAttention(nn.Module):
    """x + Dropout(EncDecAttention(RMSNorm(x), encoder output)): the decoder reads the source (no position bias:
    the distance between a target and a source position means nothing)."""

    def __init__(self, config: T5Config, layer_idx: int):
        super().__init__()
        self.EncDecAttention = T5Attention(config, is_cross_attention=True, layer_idx=layer_idx)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, encoder_hidden_states, bias=None, cache=None, output_attentions=False):
        attended, probs = self.EncDecAttention(self.layer_norm(hidden_states), key_value_states=encoder_hidden_states,
                                               bias=bias, cache=cache, output_attentions=output_attentions)
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
                output_attentions=False):
        hidden_states, self_probs = self.layer[0](hidden_states, self_bias, cache, output_attentions)
        hidden_states = _clamp_half(hidden_states)
        cross_probs = None
        if self.is_decoder:
            hidden_states, cross_probs = self.layer[1](hidden_states, encoder_hidden_states, cross_bias, cache,
                                                       output_attentions)
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
    ):
        """The encoder: input_ids (batch, S) and their attention_mask -> BaseModelOutput. The decoder: the target
        prefix, its optional mask (batch, past + T), the encoder's output and mask, the cache ->
        BaseModelOutputWithPastAndCrossAttentions (the cache under the installed transformers' name)."""
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
        cross_bias = None
        if self.is_decoder:
            if encoder_hidden_states is None:
                raise ValueError("the decoder needs the encoder's output (encoder_hidden_states)")
            if encoder_hidden_states.shape[0] != batch:
                raise ValueError(f"decoder_input_ids has batch size {batch} but the source has "
                                 f"{encoder_hidden_states.shape[0]}")
            if encoder_attention_mask is not None:
                if tuple(encoder_attention_mask.shape) != tuple(encoder_hidden_states.shape[:2]):
                    raise ValueError(f"attention_mask has shape {tuple(encoder_attention_mask.shape)}, expected "
                                     f"{tuple(encoder_hidden_states.shape[:2])}")
                if not bool(encoder_attention_mask.all()):  # no position bias across the two sequences
                    cross_bias = attention_bias(None, encoder_attention_mask.bool()[:, None, None, :]).to(
                        position_bias.dtype)

        hidden_states = self.dropout(inputs_embeds)
        all_hidden = () if output_hidden_states else None
        self_attentions = () if output_attentions else None
        cross_attentions = () if output_attentions and self.is_decoder else None
        for block in self.block:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            hidden_states, self_probs, cross_probs = block(hidden_states, self_bias, encoder_hidden_states,
                                                           cross_bias, cache, bool(output_attentions))
            if output_attentions:
                self_attentions += (self_probs,)
                if self.is_decoder:
                    cross_attentions += (cross_probs,)
        hidden_states = self.dropout(self.final_layer_norm(hidden_states))
        if output_hidden_states:
            all_hidden += (hidden_states,)  # the last entry is the normalised output

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
                   inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states
                   ) -> Seq2SeqModelOutput:
    """The encoder (unless its outputs are given), then the decoder: what T5Model and the generation head share."""
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
        output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True)
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
        **kwargs,
    ) -> Seq2SeqLMOutput:
        """Logits over the vocabulary and, with `labels`, the token cross-entropy (-100 ignored; the mean over the
        labelled tokens, or their sum over `num_items_in_batch` when the Trainer gives it). Without decoder inputs,
        they are the labels shifted right behind the decoder start token."""
        if labels is not None:
            _check_labels(labels, self.config.vocab_size)
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self._shift_right(labels)
            target_shape = (decoder_input_ids if decoder_input_ids is not None else decoder_inputs_embeds).shape[:2]
            if tuple(labels.shape) != tuple(target_shape):
                raise ValueError(f"labels have shape {tuple(labels.shape)} but the decoder inputs have shape "
                                 f"{tuple(target_shape)}")
        outputs = _encode_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                 encoder_outputs, _one_state(past_key_values, cache), inputs_embeds,
                                 decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states)
        hidden = outputs.last_hidden_state  # (batch, T, d_model)
        if self.config.scale_decoder_outputs:  # T5 v1.0: the tied output layer reads h / sqrt(d_model)
            hidden = hidden * self.config.d_model**-0.5
        logits = self.lm_head(hidden)  # (batch, T, V)
        loss = None
        if labels is not None:
            loss = ForMaskedLMLoss(logits, labels, vocab_size=self.config.vocab_size,
                                   num_items_in_batch=kwargs.get("num_items_in_batch"), ignore_index=IGNORE_INDEX)
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )

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
        inputs = {
            "input_ids": None,
            "attention_mask": attention_mask,
            "encoder_outputs": encoder_outputs,
            "decoder_input_ids": decoder_input_ids,
            "decoder_attention_mask": decoder_attention_mask,
            CACHE_NAME: cache,
            "use_cache": use_cache,
        }
        for key in ("output_attentions", "output_hidden_states"):
            if key in kwargs:
                inputs[key] = kwargs[key]
        return inputs


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
