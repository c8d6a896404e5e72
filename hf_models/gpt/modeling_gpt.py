"""GPT: the decoder-only Transformer as a language model, from GPT-1 to GPT-2 and Llama, built as the lecture builds it.

A GPT is the Transformer's decoder without cross-attention, trained to predict the next token:
p(x_1..x_n) = prod_t p(x_t | x_<t), each factor softmax(h_t W_E^T) read off the last block's state h_t. Masked
(causal) self-attention lets position t see positions <= t only, so one forward pass scores every prefix at once.

- GPT-1 (Radford et al. 2018): post-LN blocks, learned positions; fine-tuned for classification by wrapping the input
  in start, delimiter and extract tokens, with an auxiliary language-modelling loss (`GPTDoubleHeadsModel`).
- GPT-2 (Radford et al. 2019): pre-LN blocks (LayerNorm moved to each sub-block's input) and a final LayerNorm.
- What later decoders changed, each one switch (`GPTConfig`): rotary positions (`GPTRotaryEmbedding`), RMSNorm,
  a gated feed-forward network (SwiGLU), grouped-query attention (`n_kv_head`): the Llama architecture.

Module names follow GPT-2's (transformer.wte, transformer.h.N.attn.c_attn, mlp.c_fc, ln_1, ln_f, lm_head) with
PyTorch's nn.Linear; checkpoints of transformers' openai-gpt, gpt2 and llama formats are converted on load
(`hf_models.gpt.convert_gpt`), and `export_checkpoint` writes ours in those formats.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.loss.loss_utils import ForCausalLMLoss, ForSequenceClassificationLoss
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    SequenceClassifierOutputWithPast,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from .configuration_gpt import GPTConfig
from .convert_gpt import transformers_checkpoint

# transformers 5.24 renamed generate()'s cache argument and the outputs' field from `past_key_values` to `cache`;
# the cache is passed under the name the installed version uses, and accepted under both.
CACHE_NAME = "cache" if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {}) else "past_key_values"
IGNORE_INDEX = -100
_TRANSPOSED_OUTPUT_ROWS = 64  # decoding rows up to which the output layer reads W transposed (CPU)


# Copied from hf_models.seq2seq.modeling_seq2seq._one_state
def _one_state(past_key_values, cache):
    """The decoder state given under either name (`past_key_values` before transformers 5.24, `cache` since)."""
    if past_key_values is not None and cache is not None and past_key_values is not cache:
        raise ValueError("give the decoder state as past_key_values or as cache, not both")
    return cache if cache is not None else past_key_values


def _check_input_ids(input_ids: torch.Tensor, vocab_size: int, past_length: int, max_positions: int | None) -> None:
    """Token ids inside the vocabulary and a sequence no longer than the positions: one clear error otherwise."""
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, sequence_length), got {tuple(input_ids.shape)}")
    if max_positions is not None and past_length + input_ids.shape[1] > max_positions:
        raise ValueError(f"the sequence reaches {past_length + input_ids.shape[1]} tokens but the model has positions "
                         f"for {max_positions} (n_positions): truncate the prompt")
    if torch.compiler.is_compiling() or not input_ids.numel():  # reading the values would break a compiled graph
        return
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"input_ids holds the id {high if high >= vocab_size else low}, outside [0, "
                         f"vocab_size={vocab_size}): is the tokenizer the model's?")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Positions: learned (GPT-1, GPT-2) or rotary (RoFormer, Llama)
# ----------------------------------------------------------------------------------------------------------------------
class GPTRotaryEmbedding(nn.Module):
    """RoPE (Su et al. 2021): the pair (x_2i, x_2i+1) of a query or key at position m is rotated by the angle
    m * theta^(-2i/d), so q_m . k_n depends on the positions only through m - n (relative positions for free).

    The pairs are (x_i, x_{i+d/2}) (the first and second halves: transformers' Llama layout, which its checkpoints
    expect). Returns cos and sin of every angle, (batch, seq, head_dim).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        dim = config.head_dim
        inverse_frequency = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        self.register_buffer("inv_freq", inverse_frequency, persistent=False)  # (head_dim / 2,)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device_type=x.device.type, enabled=False):  # angles in fp32
            angles = position_ids[:, :, None].float() * self.inv_freq.float()[None, None, :]  # (batch, seq, dim / 2)
            angles = torch.cat([angles, angles], dim=-1)  # (batch, seq, head_dim): each angle for both halves
            return angles.cos().to(x.dtype), angles.sin().to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves: multiplying by i in the complex plane of each pair."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """x_m -> x_m cos(m theta) + rotate_half(x_m) sin(m theta): each pair of queries and keys rotated by its angle."""
    cos, sin = cos[:, None], sin[:, None]  # (batch, 1, seq, head_dim): broadcast over the heads
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


# ----------------------------------------------------------------------------------------------------------------------
# 2. Masked self-attention
# ----------------------------------------------------------------------------------------------------------------------
def attention_mask_4d(attention_mask: torch.Tensor | None, query_positions: torch.Tensor,
                      key_length: int) -> torch.Tensor:
    """(batch or 1, 1, T, S) booleans, True where query i may see key j: j <= position(i) (the causal mask, section
    3.2.3 of Vaswani et al.: a language model must not read the token it predicts) and key j is not padding.

    `query_positions`: each query's index among the keys (T,). `attention_mask`: (batch, <= S), 1 for real tokens;
    keys beyond it (a static cache's empty slots) are hidden. A query with no visible key (left padding before the
    first real token) sees every key instead, so that its (unused) output stays finite.
    """
    keys = torch.arange(key_length, device=query_positions.device)
    allowed = keys[None, :] <= query_positions[:, None]  # (T, S)
    allowed = allowed[None, None]  # (1, 1, T, S)
    if attention_mask is not None:
        real = attention_mask.bool()
        if real.shape[1] < key_length:
            real = F.pad(real, (0, key_length - real.shape[1]), value=False)
        allowed = allowed & real[:, None, None, :key_length]  # (batch, 1, T, S)
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
    return allowed


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(batch, kv_heads, seq, d) -> (batch, kv_heads * groups, seq, d): each key/value head serves `groups` query
    heads (grouped-query attention)."""
    if groups == 1:
        return x
    batch, heads, seq, dim = x.shape
    return x[:, :, None].expand(batch, heads, groups, seq, dim).reshape(batch, heads * groups, seq, dim)


def eager_attention(module: nn.Module, query, key, value, attention_mask, scaling: float, dropout: float = 0.0,
                    **kwargs):
    """softmax(Q K^T / sqrt(d_k) + M) V (Vaswani et al. eq. 1) with M = -inf where the mask hides a key."""
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, T, S)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value)  # (batch, heads, T, d_k)
    return output.transpose(1, 2).contiguous(), probs  # (batch, T, heads, d_k)


# Copied from hf_models.transformer.modeling_transformer._cpu_half_precision_training
def _cpu_half_precision_training(query: torch.Tensor) -> bool:
    """Whether this is bf16/fp16 training on a CPU, where the eager path (two matrix products and a softmax) runs
    forward and backward faster than torch's fused CPU sdpa kernel (1.2x at the base model's sizes with torch 2.13:
    benchmarks/bench_transformer_speed.py); "sdpa" then takes it. The numbers are attention's either way."""
    return query.device.type == "cpu" and query.requires_grad and query.dtype in (torch.bfloat16, torch.float16)


class GPTAttention(nn.Module):
    """Causal multi-head self-attention: Q, K and V from one projection `c_attn` (n_head query heads and n_kv_head
    key/value heads of head_dim each), then `c_proj` back to the residual stream."""

    is_causal = True  # read by transformers' sdpa kernel

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads, self.num_kv_heads, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.num_key_value_groups = config.n_head // config.n_kv_head
        self.scaling = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        self.c_attn = nn.Linear(config.n_embd, (self.num_heads + 2 * self.num_kv_heads) * self.head_dim,
                                bias=config.bias)
        self.c_proj = nn.Linear(self.num_heads * self.head_dim, config.n_embd, bias=config.bias)

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, cache: Cache | None = None,
                cache_position=None, output_attentions: bool = False):
        batch, seq, _ = hidden_states.shape
        qkv = self.c_attn(hidden_states)  # (batch, seq, (n_head + 2 n_kv_head) * head_dim)
        q, k, v = qkv.split([self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim,
                             self.num_kv_heads * self.head_dim], dim=-1)
        q = q.view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)  # (batch, n_head, seq, head_dim)
        k = k.view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (batch, n_kv_head, seq, head_dim)
        v = v.view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        if position_embeddings is not None:  # rotary: rotate queries and keys by their positions
            q, k = apply_rotary(q, k, *position_embeddings)
        if cache is not None:  # the new positions join the earlier ones: keys and values of the whole prefix
            k, v = cache.update(k, v, self.layer_idx, {"cache_position": cache_position})
            if attention_mask is not None and attention_mask.shape[-1] < k.shape[2]:  # a static cache's empty slots
                attention_mask = F.pad(attention_mask, (0, k.shape[2] - attention_mask.shape[-1]), value=False)

        implementation = self.config._attn_implementation
        eager = output_attentions or implementation in (None, "eager") or (
            implementation == "sdpa" and _cpu_half_precision_training(q))
        attention: Callable = eager_attention if eager else ALL_ATTENTION_FUNCTIONS[implementation]
        if eager and attention_mask is None and seq > 1:  # sdpa would have taken is_causal: the mask, written out
            attention_mask = attention_mask_4d(None, cache_position, k.shape[2])
        context, probs = attention(
            self, q, k, v, attention_mask,
            dropout=self.config.attn_pdrop if self.training else 0.0,
            scaling=self.scaling,
            is_causal=attention_mask is None and seq > 1,
        )
        context = context.reshape(batch, seq, -1)  # (batch, seq, n_head * head_dim): the heads concatenated
        return self.c_proj(context), probs if output_attentions else None


# ----------------------------------------------------------------------------------------------------------------------
# 3. The feed-forward network and the block
# ----------------------------------------------------------------------------------------------------------------------
class GPTMLP(nn.Module):
    """The position-wise feed-forward network: GELU(x W_fc) W_proj (GPT), or the gated SwiGLU of Llama,
    (act(x W_gate) * x W_up) W_down (Shazeer 2020), with W_gate and W_up stacked in `c_fc`."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.gated = config.feed_forward == "swiglu"
        self.c_fc = nn.Linear(config.n_embd, config.n_inner * (2 if self.gated else 1), bias=config.bias)
        self.act = ACT2FN[config.activation_function]
        self.c_proj = nn.Linear(config.n_inner, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            gate, up = self.c_fc(x).chunk(2, dim=-1)  # (batch, seq, n_inner) each
            return self.c_proj(self.act(gate) * up)
        return self.c_proj(self.act(self.c_fc(x)))


def _norm(config: GPTConfig) -> nn.Module:
    """LayerNorm (Ba et al. 2016) or RMSNorm (Zhang and Sennrich 2019: x / RMS(x) * g, no centring, no bias)."""
    if config.norm_type == "rmsnorm":
        return nn.RMSNorm(config.n_embd, eps=config.layer_norm_epsilon)
    return nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)


class GPTBlock(nn.Module):
    """Masked self-attention then the feed-forward network, each a residual sub-layer: post-LN (GPT-1,
    x = LN(x + Sublayer(x))) or pre-LN (GPT-2, x = x + Sublayer(LN(x)))."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        self.ln_1 = _norm(config)
        self.attn = GPTAttention(config, layer_idx)
        self.ln_2 = _norm(config)
        self.mlp = GPTMLP(config)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, attention_mask, position_embeddings, cache, cache_position, output_attentions):
        if self.pre_norm:
            attended, probs = self.attn(self.ln_1(x), attention_mask, position_embeddings, cache, cache_position,
                                        output_attentions)
            x = x + self.dropout(attended)
            x = x + self.dropout(self.mlp(self.ln_2(x)))
        else:
            attended, probs = self.attn(x, attention_mask, position_embeddings, cache, cache_position,
                                        output_attentions)
            x = self.ln_1(x + self.dropout(attended))
            x = self.ln_2(x + self.dropout(self.mlp(x)))
        return x, probs


# ----------------------------------------------------------------------------------------------------------------------
# 4. The models
# ----------------------------------------------------------------------------------------------------------------------
class GPTPreTrainedModel(PreTrainedModel):
    config_class = GPTConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules: ClassVar[list[str]] = ["GPTBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """N(0, 0.02) weights, zero biases, unit norms (GPT-1 and GPT-2); GPT-2 scales the projections into the
        residual stream by 1 / sqrt(2 n_layer), one per sub-layer, so the stream's variance does not grow with depth.
        Through transformers.initialization, which leaves a tensor loaded from a checkpoint as it is."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, (nn.LayerNorm, nn.RMSNorm)):
            init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, GPTRotaryEmbedding):
            dim = module.inv_freq.shape[0] * 2
            init.copy_(module.inv_freq, 1.0 / (self.config.rope_theta ** (
                torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)))
        if isinstance(module, (GPTAttention, GPTMLP)) and self.config.layer_norm_position == "pre":
            init.normal_(module.c_proj.weight, mean=0.0, std=std / math.sqrt(2 * self.config.n_layer))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' from_pretrained, for hf_models' own folders and for checkpoints in transformers' openai-gpt,
        gpt2 and llama formats (a local folder, a Hub name, or a GGUF file with `gguf_file=`): those are converted
        (`hf_models.gpt.convert_gpt`) into a temporary folder first. Then every weight is moved to freshly allocated
        (aligned) memory, as hf_models' other families do."""
        with tempfile.TemporaryDirectory(prefix="hf_models-gpt-") as tmp:
            converted = transformers_checkpoint(pretrained_model_name_or_path, tmp, kwargs)
            if converted is not None:
                kwargs.pop("gguf_file", None)
                pretrained_model_name_or_path = converted
            result = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
            model = result[0] if isinstance(result, tuple) else result
            with torch.no_grad():
                for param in model.parameters():  # aligned memory, independent of the (temporary) file
                    if param.device.type == "cpu" and (converted is not None or param.data_ptr() % 64 != 0):
                        param.data = param.data.clone()
        return result

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights (safetensors), config and, for trust_remote_code, the code with an auto_map of every head
        (a head without an Auto class, GPTDoubleHeadsModel, saves the family's code too)."""
        self.config.auto_map = dict(AUTO_MAP)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if self._auto_class is None:
            from transformers.dynamic_module_utils import custom_object_save

            custom_object_save(self, save_directory)  # modeling_gpt.py and the siblings it imports
        return result


class GPTModel(GPTPreTrainedModel):
    r"""The decoder stack: token (and learned position) embeddings, n_layer blocks, the final norm; returns the last
    block's hidden states (before the output layer) and the cache."""

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd) if config.position_embedding == "learned" else None
        self.rotary = GPTRotaryEmbedding(config) if config.position_embedding == "rotary" else None
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPTBlock(config, i) for i in range(config.n_layer))
        self.ln_f = _norm(config) if config.final_layer_norm else None
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: Cache | None = None,
        cache_position: torch.LongTensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        """Hidden states of every position; with `use_cache`, the keys and values of every layer for the next call.

        Positions count real tokens: with an `attention_mask`, a left-padded row's first real token is position 0,
        so a padded batch gives each sequence's own outputs."""
        config = self.config
        cache = _one_state(past_key_values, cache)
        use_cache = use_cache if use_cache is not None else (config.use_cache and not self.training)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        if use_cache and cache is None:
            cache = DynamicCache()
        past = cache.get_seq_length() if cache is not None else 0
        if input_ids is not None:
            _check_input_ids(input_ids, config.vocab_size, past,
                             config.n_positions if self.wpe is not None else None)
            inputs_embeds = self.wte(input_ids)  # (batch, seq, n_embd)
        batch, seq = inputs_embeds.shape[:2]
        if attention_mask is not None and (attention_mask.dim() != 2 or attention_mask.shape[0] != batch
                                           or attention_mask.shape[1] < past + seq):
            raise ValueError(f"attention_mask must have shape (batch, past + sequence_length) = {(batch, past + seq)}, "
                             f"got {tuple(attention_mask.shape)}")
        compiling = torch.compiler.is_compiling()
        if cache_position is None:
            cache_position = torch.arange(past, past + seq, device=inputs_embeds.device)
        if position_ids is None:
            if attention_mask is not None and (compiling or not bool(attention_mask.all())):  # count real tokens
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past: past + seq]
            else:
                position_ids = cache_position[None, :].expand(batch, seq)

        hidden_states = inputs_embeds
        position_embeddings = None
        if self.wpe is not None:
            hidden_states = hidden_states + self.wpe(position_ids)  # (batch, seq, n_embd)
        else:
            position_embeddings = self.rotary(hidden_states, position_ids)
        hidden_states = self.drop(hidden_states)

        # the causal mask (and padding); None lets sdpa take its causal kernel (or nothing to hide: one new token)
        # a static cache holds max_cache_len slots: the mask covers the filled ones, attention hides the rest
        static = cache is not None and bool(getattr(cache, "is_compileable", False))
        key_length = past + seq
        needs_mask = (attention_mask is not None and (compiling or not bool(attention_mask.all()))) \
            or (seq > 1 and past > 0) or static
        implementation = config._attn_implementation
        if output_attentions or implementation in (None, "eager"):
            needs_mask = needs_mask or seq > 1
        mask = attention_mask_4d(attention_mask, cache_position, key_length) if needs_mask else None

        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.h:
            hidden_states, probs = block(hidden_states, mask, position_embeddings, cache, cache_position,
                                         output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (probs,)
        if self.ln_f is not None:
            hidden_states = self.ln_f(hidden_states)
            if output_hidden_states:
                all_hidden = (*all_hidden[:-1], hidden_states)
        outputs = BaseModelOutputWithPast(last_hidden_state=hidden_states, **{CACHE_NAME: cache if use_cache else None},
                                          hidden_states=all_hidden, attentions=all_attentions)
        return outputs if _return_dict(config, return_dict) else outputs.to_tuple()


def _return_dict(config, return_dict) -> bool:
    return return_dict if return_dict is not None else getattr(config, "return_dict", True)



# ----------------------------------------------------------------------------------------------------------------------
# The language-modelling loss: softmax cross-entropy, its gradient softmax(z) - onehot(y)
# ----------------------------------------------------------------------------------------------------------------------
_LOSS_SLICE_ELEMENTS = 1 << 22  # logits per slice of the loss on a CPU (16 MB in fp32: they stay in the cache)


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


def causal_lm_loss_and_logits(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                              num_items_in_batch=None) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' ForCausalLMLoss (labels shifted left, -100 ignored; the sum over `num_items_in_batch` when
    given, else the mean) with the logits h W^T, through LinearCrossEntropy. Under autocast both products run in
    its dtype, as nn.Linear's would."""
    batch, seq, width = hidden.shape
    if torch.is_autocast_enabled(hidden.device.type):
        dtype = torch.get_autocast_dtype(hidden.device.type)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:].to(hidden.device)  # (batch, seq): the next token
    divisor = num_items_in_batch if num_items_in_batch is not None else (shifted != IGNORE_INDEX).sum()
    if torch.is_tensor(divisor):
        divisor = divisor.to(hidden.device)
    rows = max(1, _LOSS_SLICE_ELEMENTS // weight.shape[0])
    loss, logits = LinearCrossEntropy.apply(hidden.reshape(-1, width), weight, shifted.reshape(-1), divisor,
                                            rows)
    return loss, logits.view(batch, seq, -1)  # (batch, seq, vocab)


def _plain_output_layer(layer: nn.Module) -> bool:
    """An nn.Linear without bias: the layer LinearCrossEntropy stands for."""
    return type(layer) is nn.Linear and layer.bias is None


class GPTForCausalLM(GPTPreTrainedModel, GenerationMixin):
    r"""The language model: p(x_t | x_<t) = softmax(h_t W_E^T) over the vocabulary (the output layer tied to the
    token embeddings unless `tie_word_embeddings=False`); with `labels`, the mean next-token cross-entropy (labels
    shifted inside, -100 ignored). Works with `generate()` (greedy, sampling, beam search) with the KV cache."""

    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: Cache | None = None,
        cache_position: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        prompt_copies: int = 1,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        """Next-token logits (batch, seq, vocab) (only the last `logits_to_keep` positions when given, as
        generate() asks) and, with `labels`, the loss.

        `prompt_copies` k: the rows come in groups of k identical prompts (generate()'s beams and samples before they
        part, with an empty cache): each prompt is read once, and its cache and logits copied to its k rows."""
        state = _one_state(past_key_values, cache)
        if prompt_copies > 1:
            if labels is not None or input_ids is None or not _same_rows(input_ids, prompt_copies) or (
                    attention_mask is not None and not _same_rows(attention_mask, prompt_copies)):
                raise ValueError(f"prompt_copies={prompt_copies} needs input_ids (and attention_mask) in groups of "
                                 f"{prompt_copies} identical rows, and no labels")
            input_ids = input_ids[::prompt_copies]  # (prompts, seq)
            attention_mask = attention_mask[::prompt_copies] if attention_mask is not None else None
            position_ids = position_ids[::prompt_copies] if position_ids is not None else None
        outputs = self.transformer(input_ids, attention_mask, position_ids, state, inputs_embeds, use_cache,
                                   output_attentions, output_hidden_states, True, cache_position=cache_position)
        hidden = outputs.last_hidden_state  # (batch, seq, n_embd)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        # with labels, the loss below computes the logits along with it
        logits = self._output_layer(hidden) if labels is None else None  # (batch, seq, vocab)
        if prompt_copies > 1:
            logits = logits.repeat_interleave(prompt_copies, dim=0)  # (prompts * k, seq, vocab)
            if getattr(outputs, CACHE_NAME) is not None:
                getattr(outputs, CACHE_NAME).batch_repeat_interleave(prompt_copies)  # (prompts * k, heads, seq, d)
            for name in ("hidden_states", "attentions"):
                if getattr(outputs, name) is not None:
                    setattr(outputs, name, tuple(t.repeat_interleave(prompt_copies, dim=0)
                                                 for t in getattr(outputs, name)))
        loss = None
        if labels is not None:
            if labels.shape != (input_ids if input_ids is not None else inputs_embeds).shape[:2]:
                raise ValueError(f"labels must have the shape of input_ids, got {tuple(labels.shape)}")
            if (logits_to_keep or hidden.device.type != "cpu" or torch.compiler.is_compiling()
                    or not _plain_output_layer(self.lm_head)):
                logits = self._output_layer(hidden)  # (batch, seq, vocab)
                loss = ForCausalLMLoss(logits, labels, vocab_size=self.config.vocab_size,
                                       num_items_in_batch=kwargs.get("num_items_in_batch"))
            else:  # on a CPU: the same loss, its gradient formed once (LinearCrossEntropy); the logits come with it
                loss, logits = causal_lm_loss_and_logits(hidden, self.lm_head.weight, labels,
                                                         kwargs.get("num_items_in_batch"))
        result = CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
                                        hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return result if _return_dict(self.config, return_dict) else result.to_tuple()

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

    def _expand_inputs_for_generation(self, expand_size: int = 1, is_encoder_decoder: bool = False,
                                      input_ids: torch.LongTensor | None = None, **model_kwargs):
        """generate()'s copying of the prompts for its beams and samples, remembering how many copies each prompt
        has (`prompt_copies`): the first forward then reads each prompt once."""
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size=expand_size, is_encoder_decoder=is_encoder_decoder, input_ids=input_ids, **model_kwargs)
        if expand_size > 1:
            model_kwargs["prompt_copies"] = expand_size
        return input_ids, model_kwargs

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, attention_mask=None, cache=None,
                                      use_cache=None, inputs_embeds=None, prompt_copies: int = 1, **kwargs) -> dict:
        """With a cache, feed only the tokens it has not read yet; the positions follow from the attention mask.
        The first step reads each prompt once when generate() copied it for beams or samples (a dynamic cache)."""
        cache = _one_state(past_key_values, cache)
        past = cache.get_seq_length() if cache is not None else 0
        inputs = {"attention_mask": attention_mask, CACHE_NAME: cache, "use_cache": use_cache}
        if inputs_embeds is not None and past == 0:
            inputs["inputs_embeds"] = inputs_embeds
        else:
            inputs["input_ids"] = input_ids[:, past:] if cache is not None else input_ids
            static = cache is not None and bool(getattr(cache, "is_compileable", False))
            if (prompt_copies > 1 and past == 0 and use_cache is not False and not static
                    and _same_rows(input_ids, prompt_copies)
                    and (attention_mask is None or _same_rows(attention_mask, prompt_copies))):
                inputs["prompt_copies"] = prompt_copies
        for key in ("output_attentions", "output_hidden_states", "logits_to_keep"):
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


def _last_token_index(input_ids, attention_mask, pad_token_id, batch: int, seq: int, device) -> torch.Tensor:
    """Each row's last real token (the extract token of GPT-1's input transformation): the last 1 of the attention
    mask, else the last token before padding, else the last position."""
    if attention_mask is not None:
        positions = torch.arange(seq, device=device)
        return torch.where(attention_mask.bool(), positions, -1).amax(dim=1).clamp(min=0)
    if input_ids is not None and pad_token_id is not None:
        positions = torch.arange(seq, device=device)
        return torch.where(input_ids != pad_token_id, positions, -1).amax(dim=1).clamp(min=0)
    return torch.full((batch,), seq - 1, device=device, dtype=torch.long)


class GPTForSequenceClassification(GPTPreTrainedModel):
    r"""A linear classifier on the last real token's final state (GPT-1's "extract" token, section 3.3): logits
    (batch, num_labels); with `labels`, transformers' classification loss (regression, single- or multi-label)."""

    accepts_loss_kwargs = False  # a mean over the batch: the Trainer must not rescale it by num_items_in_batch

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPTModel(config)
        self.dropout = nn.Dropout(config.summary_first_dropout)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(input_ids, attention_mask, position_ids, None, inputs_embeds, False,
                                   output_attentions, output_hidden_states, True)
        hidden = outputs.last_hidden_state  # (batch, seq, n_embd)
        batch, seq = hidden.shape[:2]
        last = _last_token_index(input_ids, attention_mask, self.config.pad_token_id, batch, seq, hidden.device)
        pooled = hidden[torch.arange(batch, device=hidden.device), last]  # (batch, n_embd)
        logits = self.score(self.dropout(pooled))  # (batch, num_labels)
        loss = None
        if labels is not None:
            loss = ForSequenceClassificationLoss(labels, logits, self.config)
        result = SequenceClassifierOutputWithPast(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                                  attentions=outputs.attentions)
        return result if _return_dict(self.config, return_dict) else result.to_tuple()


@dataclass
class GPTDoubleHeadsModelOutput(ModelOutput):
    """GPT-1's fine-tuning outputs: the total loss L_task + lambda L_LM and both parts, the classifier's logits and
    the language model's."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    lm_logits: torch.FloatTensor | None = None
    classification_loss: torch.FloatTensor | None = None
    lm_loss: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class GPTDoubleHeadsModel(GPTPreTrainedModel):
    r"""GPT-1's fine-tuning (section 3.2): the classifier on the extract token and the language model on the same
    input, L_3 = L_2(task) + lambda * L_1(LM) with lambda = `config.lm_loss_coef` (0.5 in the paper): the auxiliary
    LM loss improves generalisation and speeds convergence. `labels` are the task's; `lm_labels` default to the
    input ids (padding ignored); `lm_loss_coef=0` is plain fine-tuning."""

    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "transformer.wte.weight"}
    accepts_loss_kwargs = False  # means over the batch: the Trainer must not rescale them by num_items_in_batch

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.dropout = nn.Dropout(config.summary_first_dropout)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                lm_labels=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(input_ids, attention_mask, position_ids, None, inputs_embeds, False,
                                   output_attentions, output_hidden_states, True)
        hidden = outputs.last_hidden_state  # (batch, seq, n_embd)
        batch, seq = hidden.shape[:2]
        last = _last_token_index(input_ids, attention_mask, self.config.pad_token_id, batch, seq, hidden.device)
        logits = self.score(self.dropout(hidden[torch.arange(batch, device=hidden.device), last]))  # (batch, labels)
        lm_logits = self.lm_head(hidden)  # (batch, seq, vocab)
        loss = classification_loss = lm_loss = None
        if labels is not None:
            classification_loss = ForSequenceClassificationLoss(labels, logits, self.config)
            loss = classification_loss
            if self.config.lm_loss_coef and (lm_labels is not None or input_ids is not None):
                if lm_labels is None:
                    lm_labels = input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0,
                                                                                              IGNORE_INDEX)
                lm_loss = _causal_lm_loss(lm_logits, lm_labels)
                loss = classification_loss + self.config.lm_loss_coef * lm_loss
        result = GPTDoubleHeadsModelOutput(loss=loss, logits=logits, lm_logits=lm_logits,
                                           classification_loss=classification_loss, lm_loss=lm_loss,
                                           hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return result if _return_dict(self.config, return_dict) else result.to_tuple()


def _causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_1 = -mean_t log p(x_t | x_<t): logits at t predict the label at t + 1 (-100 ignored)."""
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]  # (batch, seq): the next token of each position
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1),
                           ignore_index=IGNORE_INDEX)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.gpt and in hf_models) all derive from HEADS. A new head is one more entry.
# (GPTDoubleHeadsModel has no Auto class: transformers has none for double-heads models.)
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_gpt config
    "AutoModel": GPTModel,
    "AutoModelForCausalLM": GPTForCausalLM,
    "AutoModelForSequenceClassification": GPTForSequenceClassification,
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


AUTO_MAP = _auto_map(GPTConfig, HEADS)
_register_for_auto_classes(GPTConfig, HEADS)

__all__ = [
    "GPTDoubleHeadsModel",
    "GPTDoubleHeadsModelOutput",
    "GPTPreTrainedModel",
    "GPTRotaryEmbedding",
    "apply_rotary",
    "attention_mask_4d",
    "rotate_half",
]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
