"""The Transformer (Vaswani et al. 2017, "Attention Is All You Need"), built as the lecture builds it.

Self-attention: each position i asks a query q_i = x_i W^Q of every position's key k_j = x_j W^K and mixes their
values v_j = x_j W^V with the weights softmax_j(q_i . k_j / sqrt(d_k)). Bare self-attention has three limits, and
each fix is one named piece below:

- it is order-blind (permuting the words permutes the outputs): positional encodings are added to the embeddings
  (`TransformerSinusoidalPositionalEmbedding`, or a learned table);
- it only averages value vectors (no non-linearity beyond the softmax weights): each layer ends with a position-wise
  feed-forward network (`TransformerFeedForward`);
- in a decoder it sees the words it must predict: the causal mask hides the future (`causal_mask`).

Then scaled dot-product attention (`scaled_dot_product_attention`: why divide by sqrt(d_k)), multi-head attention
(`TransformerAttention`), residual connections with layer normalization (`TransformerSublayer`, post-LN as the paper
or pre-LN), the encoder, the decoder and the cross-attention between them.

Module names are those of transformers' MarianMT (model.shared, model.encoder.layers.N.self_attn.q_proj, fc1, fc2,
self_attn_layer_norm, encoder_attn, final_layer_norm, lm_head, final_logits_bias), so its checkpoints load.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_transformer import TransformerConfig

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


def _check_ids(name: str, ids: torch.Tensor, vocab_size: int, vocab_field: str, max_positions: int) -> None:
    """Token ids inside the vocabulary and sequences no longer than the positions: one clear error otherwise."""
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, sequence_length), got {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        bad = int(ids.max()) if int(ids.max()) >= vocab_size else int(ids.min())
        raise ValueError(f"{name} holds the id {bad}, outside [0, {vocab_field}={vocab_size}): is the tokenizer the "
                         "model's?")
    if ids.shape[1] > max_positions:
        raise ValueError(f"{name} has {ids.shape[1]} tokens but the model has positions for {max_positions} "
                         "(max_position_embeddings): truncate the text")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Word order: positional encodings
# ----------------------------------------------------------------------------------------------------------------------
class TransformerSinusoidalPositionalEmbedding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)) (section 3.5).

    Fixed, not learned: each dimension pair is a sinusoid of its own wavelength (2 pi to 10000 * 2 pi), so PE(pos + k)
    is a linear function of PE(pos) and relative positions are easy to attend to. The sines fill the first half of
    the vector and the cosines the second (tensor2tensor's and Marian's layout: the paper's interleaving up to a fixed
    permutation of the features, which a trained model cannot tell apart, and what Marian's checkpoints expect).
    """

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.register_buffer("weight", self.table(num_positions, dim), persistent=False)

    @staticmethod
    def table(num_positions: int, dim: int) -> torch.Tensor:
        position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (positions, 1)
        inverse_wavelength = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim / 2,)
        angles = position * inverse_wavelength  # (positions, dim / 2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1).float()  # (positions, dim)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return self.weight[position_ids]


class TransformerLearnedPositionalEmbedding(nn.Embedding):
    """A trained vector per position (Gehring et al. 2017); the paper found it nearly identical (Table 3, row E)."""

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(position_ids)


def _position_embedding(config: TransformerConfig) -> nn.Module | None:
    if config.position_embedding == "sinusoidal":
        return TransformerSinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model)
    if config.position_embedding == "learned":
        return TransformerLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
    return None  # "none": bare self-attention, blind to word order


class TransformerStack(nn.Module):
    """What the encoder and the decoder share: their input, Dropout(E[x] * sqrt(d_model) + PE[pos]) (sections 3.4
    and 3.5, P_drop of 5.4), and the final LayerNorm that pre-LN needs (its residual stream is never normalised)."""

    def __init__(self, config: TransformerConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.config = config
        self.embed_tokens = embed_tokens
        self.embed_positions = _position_embedding(config)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.dropout = nn.Dropout(config.dropout)
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) \
            if config.layer_norm_position == "pre" else None

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def embed(self, input_ids: torch.Tensor, past_length: int = 0) -> torch.Tensor:
        embeddings = self.embed_tokens(input_ids) * self.embed_scale  # (batch, seq, d_model)
        if self.embed_positions is not None:
            positions = torch.arange(past_length, past_length + input_ids.shape[1], device=input_ids.device)
            embeddings = embeddings + self.embed_positions(positions)  # (seq, d_model), broadcast over the batch
        return self.dropout(embeddings)

    def _final_norm(self, hidden_states, all_hidden):
        if self.layer_norm is None:
            return hidden_states, all_hidden
        hidden_states = self.layer_norm(hidden_states)
        return hidden_states, (*all_hidden[:-1], hidden_states) if all_hidden is not None else None


# ----------------------------------------------------------------------------------------------------------------------
# 2. Attention: the masks, scaled dot products, several heads
# ----------------------------------------------------------------------------------------------------------------------
def causal_mask(query_length: int, key_length: int, device=None) -> torch.Tensor:
    """(query_length, key_length) booleans, True where query i may see key j: j <= i + (key_length - query_length).

    The decoder predicts word t from words < t; in training it reads the whole target at once, so without this mask
    position t would attend to the word it must predict (section 3.2.3). With a cache of earlier positions, the
    queries are the last `query_length` of `key_length` positions.
    """
    offset = key_length - query_length
    return torch.ones(query_length, key_length, dtype=torch.bool, device=device).tril(diagonal=offset)


def _right_padded(attention_mask: torch.Tensor) -> bool:
    """Whether every row is real tokens then padding (1...1 0...0), never a real token after a padding one."""
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, 1, 1, key_length) booleans, True for real tokens: no query attends to a padding key."""
    return attention_mask.bool()[:, None, None, :]


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


def _packed_tokens(keep: torch.Tensor | None) -> PackedTokens | None:
    """PackedTokens when some positions are left out; None (nothing to skip) otherwise."""
    return None if keep is None or bool(keep.all()) else PackedTokens(keep.bool())


def scaled_dot_product_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V (section 3.2.1, eq. 1): the eager path.

    Why sqrt(d_k): for queries and keys of independent unit-variance components, q . k has variance d_k, so large
    d_k pushes the softmax into saturation, where one key takes all the weight and the gradients vanish; dividing by
    sqrt(d_k) keeps the scores at unit variance whatever the head size (`scale_attention=False` shows it).
    """
    # query/key/value: (batch, heads, seq, d_k); attention_mask: additive (batch or 1, 1, seq_q, seq_k) or None
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, seq_q, seq_k)
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value)  # (batch, heads, seq_q, d_k)
    return output.transpose(1, 2).contiguous(), probs  # (batch, seq_q, heads, d_k)


def _cpu_half_precision_training(query: torch.Tensor) -> bool:
    """Whether this is bf16/fp16 training on a CPU, where the eager path (two matrix products and a softmax) runs
    forward and backward faster than torch's fused CPU sdpa kernel (1.2x at the base model's sizes with torch 2.13:
    benchmarks/bench_transformer_speed.py); "sdpa" then takes it. The numbers are attention's either way."""
    return query.device.type == "cpu" and query.requires_grad and query.dtype in (torch.bfloat16, torch.float16)


class TransformerAttention(nn.Module):
    """Multi-head attention: MultiHead(Q, K, V) = Concat(head_1..head_h) W^O, head_i = Attention(Q W^Q_i, K W^K_i,
    V W^V_i) (section 3.2.2). h heads of d_k = d_model / h dimensions attend to different things at the cost of one.

    Self-attention takes queries, keys and values from the same sequence; cross-attention (the decoder's
    "encoder-decoder attention", section 3.2.3) takes its keys and values from the encoder's output.
    """

    def __init__(self, config: TransformerConfig, num_heads: int, is_causal: bool = False,
                 is_cross_attention: bool = False, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = config.d_model // num_heads
        self.scaling = self.head_dim**-0.5 if config.scale_attention else 1.0  # 1 / sqrt(d_k)
        self.is_causal = is_causal  # read by transformers' sdpa kernel
        self.is_cross_attention = is_cross_attention
        self.layer_idx = layer_idx
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.num_heads, self.head_dim).transpose(1, 2)  # (batch, heads, seq, d_k)

    def _stacked(self, projections: tuple[nn.Linear, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """The projections' weights and biases stacked; kept between calls while no gradient is taken and the
        parameters are unchanged (decoding calls the layer once per token)."""
        if len(projections) == 1:
            return projections[0].weight, projections[0].bias
        params = [t for p in projections for t in (p.weight, p.bias)]
        if torch.is_grad_enabled() and any(t.requires_grad for t in params):
            return torch.cat([p.weight for p in projections]), torch.cat([p.bias for p in projections])
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in params)
        cached = self.__dict__.get("_stacked_cache")
        if cached is None or cached[0] != key:
            cached = (key, torch.cat([p.weight for p in projections]), torch.cat([p.bias for p in projections]))
            self.__dict__["_stacked_cache"] = cached
        return cached[1], cached[2]

    def _project(self, x: torch.Tensor, *projections: nn.Linear, tokens: PackedTokens | None = None,
                 rows_per_source: int = 1) -> tuple[torch.Tensor, ...]:
        """x W^Q, x W^K, x W^V (or some of them) as one matrix product with the projections stacked: the same numbers
        as separate products, one pass over the activations. Packed rows (`tokens`) are unpacked after the product;
        with `rows_per_source` k, each k consecutive rows become one row of k times the positions."""
        weight, bias = self._stacked(projections)
        stacked = F.linear(x, weight, bias)  # (batch, seq, n * d_model), or (tokens, n * d_model) packed
        if tokens is not None:
            stacked = tokens.unpack(stacked)  # (batch, seq, n * d_model), zeros at the padding
        batch, seq = stacked.shape[:2]
        stacked = stacked.view(batch // rows_per_source, rows_per_source * seq, len(projections), self.num_heads,
                               self.head_dim)
        return stacked.permute(2, 0, 3, 1, 4).unbind(0)  # n x (batch, heads, seq, d_k)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
        tokens: PackedTokens | None = None,
        source_tokens: PackedTokens | None = None,
        rows_per_source: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states: (batch, seq, d_model), or its real tokens packed (`tokens`); key_value_states, for
        cross-attention: the encoder's output, packed by `source_tokens` when the source has padding.

        `rows_per_source` k (cross-attention): the batch holds k consecutive rows per source (generate()'s beams or
        samples) and the encoder's output one row per source. A source's k rows query its keys together, as k times
        as many queries: the same numbers as k copies of the source (no mask runs between queries), with the keys and
        values projected and cached once per source.
        """
        batch, seq = (tokens.batch, tokens.seq) if tokens is not None else hidden_states.shape[:2]
        if self.is_cross_attention:  # queries from the decoder; keys and values from the encoder's output
            (query,) = self._project(hidden_states, self.q_proj, tokens=tokens, rows_per_source=rows_per_source)
            if cache is not None and cache.is_updated.get(self.layer_idx):
                # the encoder's keys and values, projected at the first decoding step, are read back
                layer = cache.cross_attention_cache.layers[self.layer_idx]
                key, value = layer.keys, layer.values
            else:
                key, value = self._project(key_value_states, self.k_proj, self.v_proj, tokens=source_tokens)
                if cache is not None:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:  # queries, keys and values from the same sequence
            query, key, value = self._project(hidden_states, self.q_proj, self.k_proj, self.v_proj, tokens=tokens)
            if cache is not None:  # the new positions join the earlier ones: keys and values of the whole prefix
                key, value = cache.self_attention_cache.update(key, value, self.layer_idx)

        # the probabilities are materialised by the eager path only ("sdpa" by default; ALL_ATTENTION_FUNCTIONS[...]
        # rather than .get_interface, which transformers 5.0 lacks)
        implementation = self.config._attn_implementation
        attention: Callable = scaled_dot_product_attention
        eager = output_attentions or implementation in (None, "eager") or (
            implementation == "sdpa" and _cpu_half_precision_training(query))
        if not eager:
            attention = ALL_ATTENTION_FUNCTIONS[implementation]
        mask = attention_mask
        if eager and mask is None and self.is_causal and query.shape[2] > 1:
            mask = causal_mask(query.shape[2], key.shape[2], query.device)[None, None]  # sdpa takes is_causal instead
        if mask is not None and eager:  # booleans (True = attend) -> additive: 0 or the dtype's minimum
            mask = torch.zeros(mask.shape, dtype=query.dtype, device=mask.device).masked_fill(
                ~mask, torch.finfo(query.dtype).min)
        context, probs = attention(
            self,
            query,
            key,
            value,
            mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            is_causal=self.is_causal and mask is None and query.shape[2] > 1,
        )
        context = context.reshape(batch, seq, -1)  # (batch, seq, d_model): the heads concatenated
        if tokens is not None:
            context = tokens.pack(context)  # (tokens, d_model)
        if probs is not None and rows_per_source > 1:  # (sources, heads, k * seq, S) -> (batch, heads, seq, S)
            probs = probs.view(-1, self.num_heads, rows_per_source, seq, probs.shape[-1]).transpose(1, 2)
            probs = probs.reshape(batch, self.num_heads, seq, -1)
        return self.out_proj(context), probs if output_attentions else None


# ----------------------------------------------------------------------------------------------------------------------
# 3. Non-linearity: the position-wise feed-forward network
# ----------------------------------------------------------------------------------------------------------------------
class TransformerFeedForward:
    """The position-wise feed-forward network of a layer (a mixin: fc1 and fc2 sit on the layer, Marian's names)."""

    def _init_feed_forward(self, config: TransformerConfig, ffn_dim: int) -> None:
        self.has_feed_forward = config.feed_forward  # False: attention alone, an experiment
        if self.has_feed_forward:
            self.fc1 = nn.Linear(config.d_model, ffn_dim)
            self.activation_fn = ACT2FN[config.activation_function]
            self.activation_dropout = nn.Dropout(config.activation_dropout)
            self.fc2 = nn.Linear(ffn_dim, config.d_model)
            self.final_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (section 3.3, eq. 2): the same two-layer network at every position,
        d_model -> d_ff -> d_model, the non-linearity that attention (a weighted average of values) lacks."""
        return self.fc2(self.activation_dropout(self.activation_fn(self.fc1(hidden_states))))


# ----------------------------------------------------------------------------------------------------------------------
# 4. Residual connections and layer normalization
# ----------------------------------------------------------------------------------------------------------------------
def sublayer_connection(x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor], norm: nn.LayerNorm,
                        dropout: nn.Dropout, pre_norm: bool) -> torch.Tensor:
    """Post-LN, the paper's LayerNorm(x + Dropout(Sublayer(x))) (section 5.4), or pre-LN, x + Dropout(Sublayer(
    LayerNorm(x))) (Xiong et al. 2020): the residual path lets gradients reach the lower layers unchanged."""
    if pre_norm:
        return x + dropout(sublayer(norm(x)))
    return norm(x + dropout(sublayer(x)))


class TransformerEncoderLayer(TransformerFeedForward, nn.Module):
    """Self-attention over the source, then the feed-forward network; each a residual sub-layer (section 3.1)."""

    def __init__(self, config: TransformerConfig, layer_idx: int):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        self.self_attn = TransformerAttention(config, config.encoder_attention_heads, layer_idx=layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self._init_feed_forward(config, config.encoder_ffn_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, attention_mask, output_attentions=False, tokens=None):
        probs = None

        def attend(x):
            nonlocal probs
            out, probs = self.self_attn(x, attention_mask=attention_mask, output_attentions=output_attentions,
                                        tokens=tokens)
            return out

        hidden_states = sublayer_connection(hidden_states, attend, self.self_attn_layer_norm, self.dropout,
                                            self.pre_norm)
        if self.has_feed_forward:
            hidden_states = sublayer_connection(hidden_states, self.feed_forward, self.final_layer_norm, self.dropout,
                                                self.pre_norm)
        return hidden_states, probs


class TransformerDecoderLayer(TransformerFeedForward, nn.Module):
    """Masked self-attention over the target prefix, cross-attention to the encoder's output, then the feed-forward
    network; each a residual sub-layer (section 3.1)."""

    def __init__(self, config: TransformerConfig, layer_idx: int):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        heads = config.decoder_attention_heads
        self.self_attn = TransformerAttention(config, heads, is_causal=config.causal_decoder, layer_idx=layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.encoder_attn = TransformerAttention(config, heads, is_cross_attention=True, layer_idx=layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self._init_feed_forward(config, config.decoder_ffn_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, self_mask, encoder_hidden_states, cross_mask, cache=None,
                output_attentions=False, tokens=None, source_tokens=None, rows_per_source=1):
        probs = {}

        def attend_to_prefix(x):
            out, probs["self"] = self.self_attn(x, attention_mask=self_mask, cache=cache,
                                                output_attentions=output_attentions, tokens=tokens)
            return out

        def attend_to_source(x):
            out, probs["cross"] = self.encoder_attn(x, key_value_states=encoder_hidden_states,
                                                    attention_mask=cross_mask, cache=cache,
                                                    output_attentions=output_attentions, tokens=tokens,
                                                    source_tokens=source_tokens, rows_per_source=rows_per_source)
            return out

        hidden_states = sublayer_connection(hidden_states, attend_to_prefix, self.self_attn_layer_norm, self.dropout,
                                            self.pre_norm)
        hidden_states = sublayer_connection(hidden_states, attend_to_source, self.encoder_attn_layer_norm,
                                            self.dropout, self.pre_norm)
        if self.has_feed_forward:
            hidden_states = sublayer_connection(hidden_states, self.feed_forward, self.final_layer_norm, self.dropout,
                                                self.pre_norm)
        return hidden_states, probs["self"], probs["cross"]


# ----------------------------------------------------------------------------------------------------------------------
# 5. The encoder and the decoder
# ----------------------------------------------------------------------------------------------------------------------
class TransformerEncoder(TransformerStack):
    """N encoder layers over the embedded source: z = Encoder(x_1..x_S), one d_model vector per source word."""

    def __init__(self, config: TransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(config, embed_tokens)
        self.layers = nn.ModuleList(TransformerEncoderLayer(config, i) for i in range(config.encoder_layers))

    def forward(self, input_ids, attention_mask=None, output_attentions=False, output_hidden_states=False,
                return_dict=True) -> BaseModelOutput:
        if input_ids is None:
            raise ValueError("input_ids (the source) are required")
        _check_ids("input_ids", input_ids, self.config.vocab_size, "vocab_size", self.config.max_position_embeddings)
        hidden_states = self.embed(input_ids)  # (batch, S, d_model)
        mask, tokens = None, _packed_tokens(attention_mask)
        if tokens is not None:  # the layers skip the padding; its outputs are zeros
            mask = padding_mask(attention_mask)
            hidden_states = tokens.pack(hidden_states)  # (tokens, d_model)
        unpack = tokens.unpack if tokens is not None else (lambda x: x)
        all_hidden = (unpack(hidden_states),) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, mask, output_attentions, tokens)
            if output_hidden_states:
                all_hidden += (unpack(hidden_states),)
            if output_attentions:
                all_attentions += (probs,)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
            all_hidden = (*all_hidden[:-1], unpack(hidden_states)) if all_hidden is not None else None
        return BaseModelOutput(last_hidden_state=unpack(hidden_states), hidden_states=all_hidden,
                               attentions=all_attentions)


class TransformerDecoder(TransformerStack):
    """N decoder layers over the embedded target prefix, attending to the encoder's output z."""

    def __init__(self, config: TransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(config, embed_tokens)
        self.layers = nn.ModuleList(TransformerDecoderLayer(config, i) for i in range(config.decoder_layers))

    def forward(self, input_ids, encoder_hidden_states, encoder_attention_mask=None, attention_mask=None,
                cache: EncoderDecoderCache | None = None, use_cache=False, output_attentions=False,
                output_hidden_states=False, keep: torch.Tensor | None = None, rows_per_source: int = 1):
        """`keep` (batch, T) booleans, a prefix of each row: only those positions are computed, and the hidden states
        come back packed (the positions a training loss reads, and the earlier ones they attend to). `rows_per_source`:
        see TransformerAttention (the encoder's output has one row per k rows of `input_ids`)."""
        config = self.config
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        past_length = cache.get_seq_length() if cache is not None else 0
        if input_ids.shape[1] + past_length > config.max_position_embeddings:
            raise ValueError(f"the target reaches {input_ids.shape[1] + past_length} tokens but the model has positions "
                             f"for {config.max_position_embeddings} (max_position_embeddings)")
        _check_ids("decoder_input_ids", input_ids, config.decoder_vocab_size, "decoder_vocab_size",
                   config.max_position_embeddings)
        hidden_states = self.embed(input_ids, past_length)
        batch, length = input_ids.shape
        total = past_length + length

        # self-attention: the causal mask (and the target's padding, when given); None lets sdpa take its fast
        # causal kernel
        self_mask = None
        if config.causal_decoder and (past_length > 0 and length > 1):
            self_mask = causal_mask(length, total, input_ids.device)[None, None]  # (1, 1, T, past + T)
        if attention_mask is not None and attention_mask.shape != (batch, total):
            raise ValueError(f"decoder_attention_mask has shape {tuple(attention_mask.shape)}, expected "
                             f"{(batch, total)}")
        if attention_mask is not None and config.causal_decoder and not output_attentions \
                and _right_padded(attention_mask):
            # padding only after the real tokens: the causal mask already hides it from every real position (and
            # the loss ignores the padding's own positions), so sdpa keeps its fast causal kernel; the attention
            # maps, when asked for, keep the exact mask
            attention_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            keep = padding_mask(attention_mask)
            if config.causal_decoder:
                keep = keep & causal_mask(length, total, input_ids.device)[None, None]
            self_mask = keep
        cross_mask, source_tokens, memory = None, None, encoder_hidden_states
        if encoder_attention_mask is not None and not bool(encoder_attention_mask.all()):
            cross_mask = padding_mask(encoder_attention_mask)
            if cache is None or not cache.is_updated.get(0):  # the keys and values are projected from real tokens
                source_tokens = PackedTokens(encoder_attention_mask.bool())
                memory = source_tokens.pack(encoder_hidden_states)  # (source tokens, d_model)
        tokens = None
        if keep is not None and cache is None and not output_hidden_states:
            tokens = _packed_tokens(keep)
            if tokens is not None:
                hidden_states = tokens.pack(hidden_states)  # (tokens, d_model)

        all_hidden = (hidden_states,) if output_hidden_states else None
        self_attentions = () if output_attentions else None
        cross_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, self_probs, cross_probs = layer(hidden_states, self_mask, memory, cross_mask, cache,
                                                           output_attentions, tokens, source_tokens, rows_per_source)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                self_attentions += (self_probs,)
                cross_attentions += (cross_probs,)
        hidden_states, all_hidden = self._final_norm(hidden_states, all_hidden)
        return hidden_states, cache if use_cache else None, all_hidden, self_attentions, cross_attentions, tokens


# ----------------------------------------------------------------------------------------------------------------------
# 6. The models
# ----------------------------------------------------------------------------------------------------------------------
class TransformerPreTrainedModel(PreTrainedModel):
    config_class = TransformerConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _no_split_modules: ClassVar[list[str]] = ["TransformerEncoderLayer", "TransformerDecoderLayer"]
    # The loss is a mean over the target tokens; the Trainer must not rescale it by num_items_in_batch.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Glorot-uniform weights and zero biases for the linear maps (as tensor2tensor and torch's nn.Transformer),
        N(0, d_model^-1/2) embeddings (their scale after the sqrt(d_model) factor is 1), unit LayerNorms, the fixed
        sinusoids. Through transformers.initialization, which leaves a tensor loaded from a checkpoint as it is."""
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, TransformerSinusoidalPositionalEmbedding):
            init.copy_(module.weight, module.table(*module.weight.shape))
        elif isinstance(module, TransformerForConditionalGeneration):
            init.zeros_(module.final_logits_bias)

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


class TransformerModel(TransformerPreTrainedModel):
    r"""The bare encoder-decoder: the decoder's last hidden states (before the output projection)."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        if config.share_encoder_decoder_embeddings:  # one matrix for both languages (section 3.4)
            self.shared = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
            source, target = self.shared, self.shared
            self._tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight",
                                       "decoder.embed_tokens.weight": "shared.weight"}
        else:
            source = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
            target = nn.Embedding(config.decoder_vocab_size, config.d_model, config.pad_token_id)
        self.encoder = TransformerEncoder(config, source)
        self.decoder = TransformerDecoder(config, target)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value):
        if self.config.share_encoder_decoder_embeddings:
            self.shared = value
            self.decoder.set_input_embeddings(value)
        self.encoder.set_input_embeddings(value)

    def get_encoder(self, *args, **kwargs):
        return self.encoder

    def get_decoder(self, *args, **kwargs):
        return self.decoder

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: EncoderDecoderCache | None = None,
        rows_per_source: int = 1,
        **kwargs,
    ) -> Seq2SeqModelOutput | tuple:
        """Encode the source (unless `encoder_outputs` are given) and decode `decoder_input_ids`.

        `rows_per_source` k: `decoder_input_ids` holds k consecutive rows per source (as generate()'s beams and
        samples do), each source encoded once."""
        outputs, _ = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                               _one_state(past_key_values, cache), use_cache, output_attentions, output_hidden_states,
                               rows_per_source=rows_per_source)
        return outputs if self._return_dict(return_dict) else outputs.to_tuple()

    def _return_dict(self, return_dict: bool | None) -> bool:
        return return_dict if return_dict is not None else getattr(self.config, "return_dict", True)

    def _run(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, cache,
             use_cache, output_attentions, output_hidden_states, decoder_keep=None, rows_per_source=1
             ) -> tuple[Seq2SeqModelOutput, PackedTokens | None]:
        """The outputs and, where the decoder computed only the positions of `decoder_keep`, their packing (the
        outputs' last_hidden_state is then packed)."""
        if decoder_input_ids is None:
            raise ValueError("decoder_input_ids (or labels, for TransformerForConditionalGeneration) are required")
        output_attentions = bool(output_attentions)
        output_hidden_states = bool(output_hidden_states)
        use_cache = use_cache if use_cache is not None else False
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, output_attentions, output_hidden_states)
        elif isinstance(encoder_outputs, (tuple, list)):
            encoder_outputs = BaseModelOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
            )
        memory = encoder_outputs.last_hidden_state  # (batch, S, d_model)
        if not isinstance(rows_per_source, int) or rows_per_source < 1:
            raise ValueError(f"rows_per_source must be a positive integer, got {rows_per_source!r}")
        if memory.shape[0] * rows_per_source != decoder_input_ids.shape[0]:
            per_source = f" ({rows_per_source} rows per source)" if rows_per_source > 1 else ""
            raise ValueError(f"decoder_input_ids has batch size {decoder_input_ids.shape[0]} but the source has "
                             f"{memory.shape[0]}{per_source}")
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(memory.shape[:2]):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected "
                             f"{tuple(memory.shape[:2])}")
        hidden, cache, decoder_hidden, self_attentions, cross_attentions, tokens = self.decoder(
            decoder_input_ids, memory, attention_mask, decoder_attention_mask, cache, use_cache, output_attentions,
            output_hidden_states, decoder_keep, rows_per_source,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=hidden,
            **{CACHE_NAME: cache},
            decoder_hidden_states=decoder_hidden,
            decoder_attentions=self_attentions,
            cross_attentions=cross_attentions,
            encoder_last_hidden_state=memory,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        ), tokens


class TransformerForConditionalGeneration(TransformerPreTrainedModel, GenerationMixin):
    r"""The encoder-decoder with its output layer, p(y_t | y_<t, x) = softmax(h_t W_E^T + b): works with `generate()`
    (greedy, beam search, sampling) with the decoder's self-attention and cross-attention keys and values cached.

    Loads transformers' MarianMT checkpoints (the same architecture and module names).
    """

    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.model = TransformerModel(config)
        if config.share_encoder_decoder_embeddings:
            self._tied_weights_keys = {"lm_head.weight": "model.shared.weight",
                                       "model.encoder.embed_tokens.weight": "model.shared.weight",
                                       "model.decoder.embed_tokens.weight": "model.shared.weight"}
        self.register_buffer("final_logits_bias", torch.zeros(1, config.decoder_vocab_size))  # Marian's output bias
        self.lm_head = nn.Linear(config.d_model, config.decoder_vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def get_encoder(self, *args, **kwargs):
        return self.model.encoder

    def get_decoder(self, *args, **kwargs):
        return self.model.decoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for `DataCollatorForSeq2Seq`: the labels shifted right."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: EncoderDecoderCache | None = None,
        rows_per_source: int = 1,
        **kwargs,
    ) -> Seq2SeqLMOutput | tuple:
        """Logits over the target vocabulary and, with `labels`, the mean token cross-entropy (-100 ignored).

        In training with `sparse_prediction`, the decoder computes only the positions up to each row's last label
        and the output layer only the labelled ones (`logits` is then (labelled tokens, V)); the encoder always skips
        the source's padding. `rows_per_source`: see TransformerModel."""
        if labels is not None:
            _check_labels(labels, self.config.decoder_vocab_size)
            if decoder_input_ids is None:
                decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id,
                                                       self.config.decoder_start_token_id)
            elif decoder_input_ids.shape != labels.shape:
                raise ValueError(f"labels have shape {tuple(labels.shape)} but decoder_input_ids have shape "
                                 f"{tuple(decoder_input_ids.shape)}")
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
        sparse = labels is not None and self.training and self.config.sparse_prediction
        keep = None
        if sparse:  # the decoder computes the prefix each row's labels need: up to its last label
            positions = torch.arange(labels.shape[1], device=labels.device)
            last_label = torch.where(labels != IGNORE_INDEX, positions, -1).amax(dim=1)  # (batch,)
            keep = positions[None, :] <= last_label[:, None]  # (batch, T)
        outputs, tokens = self.model._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                          encoder_outputs, state, use_cache,
                                          output_attentions, output_hidden_states, keep, rows_per_source)
        hidden = outputs.last_hidden_state  # (batch, T, d_model), or (kept tokens, d_model) packed
        loss = None
        if sparse:
            kept_labels = tokens.pack(labels) if tokens is not None else labels
            selected = kept_labels != IGNORE_INDEX  # the padding's projection would be thrown away
            logits = F.linear(hidden[selected], self.lm_head.weight, self.final_logits_bias[0])  # (num_labelled, V)
            loss = F.cross_entropy(logits.float(), kept_labels[selected]) if logits.shape[0] else logits.sum() * 0.0
        else:
            logits = F.linear(hidden, self.lm_head.weight, self.final_logits_bias[0])  # (batch, T, V)
            if labels is not None:
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                       ignore_index=IGNORE_INDEX)
        decoder_outputs = (outputs.decoder_hidden_states, outputs.decoder_attentions, outputs.cross_attentions)
        if copies > 1:
            state.self_attention_cache.batch_repeat_interleave(copies)  # (sources * k, heads, T, d_k)
            logits = logits.repeat_interleave(copies, dim=0)  # (sources * k, T, V)
            decoder_outputs = tuple(None if each is None else tuple(t.repeat_interleave(copies, dim=0) for t in each)
                                    for each in decoder_outputs)
        result = Seq2SeqLMOutput(
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
        return result if self.model._return_dict(return_dict) else result.to_tuple()

    def _beam_search(self, *args, **kwargs):
        """transformers' beam search, sized by the target vocabulary: up to 5.x releases that read the candidates'
        count from `config.vocab_size` (the source vocabulary when the two differ), it is the target's meanwhile (the
        encoder has run by then; only the decoder, which reads `decoder_vocab_size`, runs inside)."""
        config = self.config
        if config.vocab_size == config.decoder_vocab_size:
            return super()._beam_search(*args, **kwargs)
        source_vocab_size, config.vocab_size = config.vocab_size, config.decoder_vocab_size
        try:
            return super()._beam_search(*args, **kwargs)
        finally:
            config.vocab_size = source_vocab_size

    def _reorder_cache(self, cache, beam_idx: torch.LongTensor):
        """Beam search's reordering after each step: the decoder's self-attention keys and values follow their beams;
        the cross-attention ones are the source's, the same for every beam of a source, so they stay where they are
        (beam search only moves a beam within its own source's beams)."""
        if isinstance(cache, EncoderDecoderCache):
            cache.self_attention_cache.reorder_cache(beam_idx)
        else:
            cache.reorder_cache(beam_idx)
        return cache

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
        """With a cache, feed only the target tokens it has not read yet (the last one); otherwise the whole prefix."""
        cache = _one_state(past_key_values, cache)
        if cache is not None:
            decoder_input_ids = decoder_input_ids[:, cache.get_seq_length():]
        rows_per_source = 1
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


def _same_rows(ids: torch.Tensor, rows_per_source: int) -> bool:
    """Whether each group of `rows_per_source` consecutive rows holds one sequence k times."""
    if ids.shape[0] % rows_per_source:
        return False
    groups = ids.view(-1, rows_per_source, ids.shape[1])  # (sources, k, T)
    return bool((groups == groups[:, :1]).all())


# Copied from hf_models.seq2seq.modeling_seq2seq._check_labels with target_vocab_size->decoder_vocab_size
def _check_labels(labels: torch.Tensor, vocab_size: int) -> None:
    """Labels are target token ids or -100 (ignored)."""
    if labels.dim() != 2:
        raise ValueError(f"labels must have shape (batch, target_length), got {tuple(labels.shape)}")
    valid = (labels == IGNORE_INDEX) | ((labels >= 0) & (labels < vocab_size))
    if not bool(valid.all()):
        bad = labels[~valid]
        raise ValueError(f"labels hold {bad.numel()} value(s) outside [0, decoder_vocab_size={vocab_size}) that are "
                         f"not -100 (ignored), e.g. {int(bad[0])}")


def plot_attention_heads(attentions, query_tokens: list[str], key_tokens: list[str],
                         path: str | os.PathLike | None = None, title: str | None = None, columns: int = 4):
    """Draw every head of one attention layer as a heatmap, side by side; returns the Figure.

    `attentions`: one example's weights of one layer, shape (heads, query_len, key_len) (a leading size-1 batch dim
    is squeezed), a tensor or array: an encoder self-attention layer (queries and keys the source tokens), a decoder
    self-attention layer (the target prefix, lower-triangular) or a cross-attention layer (target over source).
    With `path`, the figure is also saved there (PNG, PDF, ... by its extension).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(attentions, torch.Tensor):
        attentions = attentions.detach().float().cpu().numpy()
    weights = np.asarray(attentions, dtype=np.float64)
    if weights.ndim == 4 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3 or weights.shape[1:] != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"plot_attention_heads: attentions must be (heads, {len(query_tokens)} query tokens, "
                         f"{len(key_tokens)} key tokens) for one example, got shape {tuple(np.asarray(attentions).shape)}")
    heads = weights.shape[0]
    columns = min(columns, heads)
    rows = math.ceil(heads / columns)
    cell_w, cell_h = max(2.5, 0.32 * len(key_tokens) + 1), max(2.2, 0.32 * len(query_tokens) + 0.8)
    figure = Figure(figsize=(cell_w * columns + 1, cell_h * rows + (0.5 if title else 0)))
    FigureCanvasAgg(figure)
    for head in range(heads):
        axes = figure.add_subplot(rows, columns, head + 1)
        axes.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_title(f"head {head + 1}", fontsize=9)
        axes.set_xticks(range(len(key_tokens)), labels=list(key_tokens), rotation=90, fontsize=7)
        axes.set_yticks(range(len(query_tokens)), labels=list(query_tokens), fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(os.fspath(path))
    return figure


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.transformer and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_transformer config
    "AutoModel": TransformerModel,
    "AutoModelForSeq2SeqLM": TransformerForConditionalGeneration,
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


AUTO_MAP = _auto_map(TransformerConfig, HEADS)
_register_for_auto_classes(TransformerConfig, HEADS)

__all__ = [
    "TransformerPreTrainedModel",
    "TransformerSinusoidalPositionalEmbedding",
    "causal_mask",
    "padding_mask",
    "plot_attention_heads",
    "scaled_dot_product_attention",
    "shift_tokens_right",
]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
