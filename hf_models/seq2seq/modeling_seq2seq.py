"""LSTM encoder-decoder with attention (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

The encoder reads the source x_1..x_S into states h_s; the decoder LSTM produces h_t from the previous target word
(and, with input feeding, the previous attentional state h~_{t-1}); global attention scores h_t against every h_s,
masks the source padding with -inf, normalises with a softmax into a_t, builds the context c_t = sum_s a_t(s) h_s and
the attentional hidden state h~_t = tanh(W_c [c_t; h_t]), from which p(y_t | y_<t, x) = softmax(W_s h~_t).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import (
    BaseModelOutput,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)

from .configuration_seq2seq import Seq2SeqConfig

# transformers 5.24 renamed generate()'s cache argument and the outputs' field from `past_key_values` to `cache`;
# the decoder state is passed under the name the installed version uses, and accepted under both.
CACHE_NAME = "cache" if "cache" in getattr(Seq2SeqLMOutput, "__dataclass_fields__", {}) else "past_key_values"


# Copied from hf_models.rnn.modeling_rnn._one_state with recurrent->decoder
def _one_state(past_key_values, cache):
    """The decoder state given under either name (`past_key_values` before transformers 5.24, `cache` since)."""
    if past_key_values is not None and cache is not None and past_key_values is not cache:
        raise ValueError("give the decoder state as past_key_values or as cache, not both")
    return cache if cache is not None else past_key_values

IGNORE_INDEX = -100


@dataclass
class Seq2SeqEncoderOutput(BaseModelOutput):
    r"""The encoder states h_s and the final LSTM states.

    The final states are batch-first, `(batch, encoder_layers * directions, hidden_size)` (torch's `h_n` transposed),
    so that `generate()` expands them for beams along dim 0 like every other encoder output.
    """

    final_hidden_state: torch.FloatTensor | None = None
    final_cell_state: torch.FloatTensor | None = None


class Seq2SeqDecoderState:
    """The recurrent decoder state carried between generation steps: (h, c) of every LSTM layer and h~_{t-1}.

    It is the model's `past_key_values`. Beam search reorders it in place with `reorder_cache(beam_idx)`.
    """

    is_compileable = False
    # the state's tensors and their batch dimension (a None tensor is skipped)
    _batch_dims = (("hidden", 1), ("cell", 1), ("input_feed", 0))

    def __init__(self, hidden: torch.Tensor, cell: torch.Tensor, input_feed: torch.Tensor | None, seq_length: int):
        self.hidden = hidden  # (decoder_layers, batch, hidden_size)
        self.cell = cell  # (decoder_layers, batch, hidden_size)
        self.input_feed = input_feed  # (batch, hidden_size): h~_{t-1}, only with input feeding
        self.seq_length = seq_length  # number of target tokens already read

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of decoder tokens the state has consumed."""
        return self.seq_length

    # Copied from hf_models.rnn.modeling_rnn.RnnState.reorder_cache
    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Beam search: keep, for every new beam (row), the state of the beam it extends."""
        for name, dim in self._batch_dims:
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.index_select(dim, beam_idx.to(tensor.device)))

    # Copied from hf_models.rnn.modeling_rnn.RnnState.batch_repeat_interleave
    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row `repeats` times (generate's expansion for beams or several returned sequences)."""
        for name, dim in self._batch_dims:
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.repeat_interleave(repeats, dim=dim))

    # Copied from hf_models.rnn.modeling_rnn.RnnState.batch_select_indices
    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        self.reorder_cache(indices)

    def __repr__(self) -> str:
        return (f"Seq2SeqDecoderState(layers={self.hidden.shape[0]}, batch={self.hidden.shape[1]}, "
                f"seq_length={self.seq_length}, input_feeding={self.input_feed is not None})")


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs from labels: y_0 = decoder start, y_t = label_{t-1}; ignored labels (-100) become padding."""
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    shifted.masked_fill_(shifted == IGNORE_INDEX, pad_token_id)
    return shifted


def _check_token_ids(name: str, ids: torch.Tensor, vocab_size: int, vocab_field: str) -> None:
    """Refuse ids outside the vocabulary with an error naming the argument (not an index error deep in torch)."""
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, sequence_length), got {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{name} holds token ids outside [0, {vocab_field}={vocab_size}): min {int(ids.min())}, "
                         f"max {int(ids.max())}")


def _check_attention_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The source mask as bool; it must match input_ids, be right-padded and keep at least one token per row."""
    if mask.shape != shape:
        raise ValueError(f"attention_mask has shape {tuple(mask.shape)} but the source has shape {tuple(shape)}")
    mask = mask.bool()
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("attention_mask must be right-padded (ones, then zeros): the LSTM encoder reads every source "
                         "sentence from its first token; pad on the right (tokenizer.padding_side='right')")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("attention_mask has a row without any source token; every source sentence needs one")
    return mask


class Seq2SeqAttention(nn.Module):
    r"""Global attention of Luong et al. (2015), eq. 5-8: scores, masked softmax, context, attentional state.

    score(h_t, h_s) for `attention_type`:
        dot:     h_t^T h_s
        general: h_t^T W_a h_s
        concat:  v_a^T tanh(W_a [h_t; h_s])   (Bahdanau et al. 2015's additive score)

    h_t is always the *current* top-layer decoder state (Luong's formulation, for every score). Bahdanau et al.
    score the previous state s_{t-1} and feed c_t into the RNN; `input_feeding=True` is the closest variant here
    (the previous attentional state h~_{t-1} enters the LSTM).
    """

    def __init__(self, config: Seq2SeqConfig, memory_size: int):
        super().__init__()
        self.attention_type = config.attention_type
        hidden = config.hidden_size
        if self.attention_type == "general":
            # nn.Linear's weight is W_a^T (memory_size x hidden): W_a(h_t) = W_a^T h_t, so the score is (W_a^T h_t) . h_s
            self.W_a = nn.Linear(hidden, memory_size, bias=False)
        elif self.attention_type == "concat":
            self.W_a = nn.Linear(hidden + memory_size, hidden, bias=False)
            self.v_a = nn.Linear(hidden, 1, bias=False)
        self.W_c = nn.Linear(memory_size + hidden, hidden, bias=False)
        self.hidden_size = hidden

    def score(self, h_t: torch.Tensor, h_s: torch.Tensor) -> torch.Tensor:
        """Alignment scores score(h_t, h_s) (Luong et al. 2015, eq. 8): (batch, T, H), (batch, S, D) -> (batch, T, S)."""
        if self.attention_type == "dot":
            return torch.bmm(h_t, h_s.transpose(1, 2))
        if self.attention_type == "general":
            return torch.bmm(self.W_a(h_t), h_s.transpose(1, 2))
        # concat: W_a [h_t; h_s] = W_a[:, :H] h_t + W_a[:, H:] h_s, so the target and source halves are projected once
        query = F.linear(h_t, self.W_a.weight[:, : self.hidden_size])  # (batch, T, H)
        keys = F.linear(h_s, self.W_a.weight[:, self.hidden_size :])  # (batch, S, H)
        energy = torch.tanh(query.unsqueeze(2) + keys.unsqueeze(1))  # (batch, T, S, H)
        return self.v_a(energy).squeeze(-1)  # (batch, T, S)

    def forward(self, h_t: torch.Tensor, h_s: torch.Tensor, source_mask: torch.Tensor):
        """a_t = softmax(score) over unmasked source positions, c_t = sum_s a_t(s) h_s, h~_t = tanh(W_c [c_t; h_t])."""
        scores = self.score(h_t, h_s)  # (batch, T, S)
        scores = scores.masked_fill(~source_mask.unsqueeze(1), float("-inf"))  # padding gets exactly 0 weight
        weights = torch.softmax(scores, dim=-1)  # (batch, T, S)
        context = torch.bmm(weights, h_s)  # (batch, T, D)
        attentional = torch.tanh(self.W_c(torch.cat([context, h_t], dim=-1)))  # (batch, T, H)
        return attentional, weights


class Seq2SeqEncoder(nn.Module):
    """The source reader: embeddings and a (bidirectional) stacked LSTM over the unpadded tokens."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.source_vocab_size, config.embedding_size,
                                         padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.encoder_layers,
            batch_first=True,
            dropout=config.dropout if config.encoder_layers > 1 else 0.0,
            bidirectional=config.bidirectional_encoder,
        )

    @property
    def output_size(self) -> int:
        """Size D of an encoder state h_s (2H with a bidirectional encoder)."""
        return self.config.hidden_size * (2 if self.config.bidirectional_encoder else 1)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Seq2SeqEncoderOutput | tuple:
        """Encode the source: h_s for every position (zeros on padding) and the final (h, c) of every layer.

        `output_attentions` is accepted for generate(): the LSTM encoder has no self-attention, so there are none.
        `output_hidden_states` returns (embeddings, top-layer states).
        """
        if input_ids is None:
            raise ValueError("input_ids (the source token ids) are required to run the encoder")
        _check_token_ids("input_ids", input_ids, self.config.source_vocab_size, "source_vocab_size")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        mask = _check_attention_mask(attention_mask, input_ids.shape)
        lengths = mask.sum(dim=1)  # (batch,)
        embedded = self.dropout(self.embed_tokens(input_ids))  # (batch, S, E)
        # Packing makes the LSTM stop at each sentence's last real token: padding never enters the final states.
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (h_n, c_n) = self.lstm(packed)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=input_ids.shape[1])  # (batch, S, D)
        result = Seq2SeqEncoderOutput(
            last_hidden_state=outputs,
            hidden_states=(embedded, outputs) if output_hidden_states else None,
            final_hidden_state=h_n.transpose(0, 1),  # (layers * directions, batch, H) -> (batch, layers * directions, H)
            final_cell_state=c_n.transpose(0, 1),
        )
        return result if return_dict is not False else result.to_tuple()


class Seq2SeqDecoder(nn.Module):
    """The target writer: embeddings, a stacked LSTM started from the encoder's final state, and attention."""

    def __init__(self, config: Seq2SeqConfig, memory_size: int):
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.embed_tokens = nn.Embedding(config.target_vocab_size, config.embedding_size,
                                         padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        input_size = config.embedding_size + (hidden if config.input_feeding else 0)
        self.lstm = nn.LSTM(
            input_size,
            hidden,
            num_layers=config.decoder_layers,
            batch_first=True,
            dropout=config.dropout if config.decoder_layers > 1 else 0.0,
        )
        if config.bidirectional_encoder:
            # the bridge: s_0 = W [h_forward; h_backward] + b, one map for h and one for c
            self.bridge_hidden = nn.Linear(2 * hidden, hidden)
            self.bridge_cell = nn.Linear(2 * hidden, hidden)
        self.attention = Seq2SeqAttention(config, memory_size) if config.attention_type != "none" else None

    def initial_state(self, encoder_outputs: Seq2SeqEncoderOutput) -> Seq2SeqDecoderState:
        """The decoder starts from the encoder's final (h, c), layer by layer (Sutskever et al. 2014).

        A bidirectional encoder's two directions are concatenated and bridged; when the layer counts differ, every
        decoder layer starts from the encoder's top layer.
        """
        states = []
        for final, bridge in ((encoder_outputs.final_hidden_state, getattr(self, "bridge_hidden", None)),
                              (encoder_outputs.final_cell_state, getattr(self, "bridge_cell", None))):
            state = final.transpose(0, 1)  # (batch, layers * directions, H) -> (layers * directions, batch, H)
            if self.config.bidirectional_encoder:
                layers, batch, hidden = state.shape[0] // 2, state.shape[1], state.shape[2]
                state = state.reshape(layers, 2, batch, hidden)  # torch orders h_n as (layer, direction)
                state = bridge(torch.cat([state[:, 0], state[:, 1]], dim=-1))  # (layers, batch, 2H) -> (layers, batch, H)
            if state.shape[0] != self.config.decoder_layers:
                state = state[-1:].expand(self.config.decoder_layers, -1, -1)  # top encoder layer for every layer
            states.append(state.contiguous())
        input_feed = None
        if self.config.input_feeding:
            input_feed = states[0].new_zeros(states[0].shape[1], self.config.hidden_size)  # h~_0 = 0
        return Seq2SeqDecoderState(states[0], states[1], input_feed, 0)

    def forward(
        self,
        decoder_input_ids: torch.LongTensor,
        memory: torch.Tensor,
        source_mask: torch.Tensor,
        state: Seq2SeqDecoderState,
        teacher_forcing_ratio: float = 1.0,
        predict_next_token: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        """Run the decoder over `decoder_input_ids` from `state`: outputs h~_t (batch, T, H), weights, new state.

        The whole sequence goes through the LSTM at once unless the step-by-step loop is needed: input feeding
        (h~_{t-1} is an input of step t) or teacher_forcing_ratio < 1 with `predict_next_token` (at each step, with
        probability 1 - ratio, an example is fed the model's own argmax instead of the gold token).
        """
        hidden, cell = state.hidden, state.cell
        sampled = predict_next_token is not None and teacher_forcing_ratio < 1.0
        if not self.config.input_feeding and not sampled:
            embedded = self.dropout(self.embed_tokens(decoder_input_ids))  # (batch, T, E)
            h_t, (hidden, cell) = self.lstm(embedded, (hidden, cell))  # (batch, T, H)
            outputs, weights = self._attend(h_t, memory, source_mask)
            new_state = Seq2SeqDecoderState(hidden, cell, None, state.seq_length + decoder_input_ids.shape[1])
            return outputs, weights, new_state

        input_feed = state.input_feed
        step_outputs, step_weights = [], []
        for t in range(decoder_input_ids.shape[1]):
            tokens = decoder_input_ids[:, t]  # (batch,)
            if sampled and t > 0:
                own = torch.rand(tokens.shape, device=tokens.device) >= teacher_forcing_ratio
                tokens = torch.where(own, predict_next_token(step_outputs[-1][:, 0]).detach(), tokens)
            x_t = self.dropout(self.embed_tokens(tokens)).unsqueeze(1)  # (batch, 1, E)
            if input_feed is not None:
                x_t = torch.cat([x_t, input_feed.unsqueeze(1)], dim=-1)  # (batch, 1, E + H)
            h_t, (hidden, cell) = self.lstm(x_t, (hidden, cell))  # (batch, 1, H)
            out_t, weights_t = self._attend(h_t, memory, source_mask)
            if input_feed is not None:
                input_feed = out_t[:, 0]
            step_outputs.append(out_t)
            step_weights.append(weights_t)
        outputs = torch.cat(step_outputs, dim=1)  # (batch, T, H)
        weights = torch.cat(step_weights, dim=1) if self.attention is not None else None  # (batch, T, S)
        new_state = Seq2SeqDecoderState(hidden, cell, input_feed, state.seq_length + decoder_input_ids.shape[1])
        return outputs, weights, new_state

    def _attend(self, h_t: torch.Tensor, memory: torch.Tensor, source_mask: torch.Tensor):
        """h~_t and a_t with attention; without it (the bottleneck model) the output is h_t itself."""
        if self.attention is None:
            return h_t, None
        return self.attention(h_t, memory, source_mask)


class Seq2SeqPreTrainedModel(PreTrainedModel):
    config_class = Seq2SeqConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = ["Seq2SeqEncoder", "Seq2SeqDecoder"]
    # The loss is a mean over the target tokens; the Trainer must not rescale it by num_items_in_batch.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Every parameter uniform in [-init_range, init_range] (Sutskever et al. 2014); padding embeddings zero."""
        r = self.config.init_range
        if isinstance(module, (nn.Linear, nn.LSTM)):
            for param in module.parameters(recurse=False):
                init.uniform_(param, -r, r)
        elif isinstance(module, nn.Embedding):
            init.uniform_(module.weight, -r, r)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])

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

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        """The decoder state is recurrent (Seq2SeqDecoderState), not a key/value cache."""
        return False

    # Copied from hf_models.rnn.modeling_rnn.RnnPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights (safetensors), config and, for trust_remote_code, the code with an auto_map of every head."""
        if self._auto_class is not None:
            self.config.auto_map = dict(AUTO_MAP)
        return super().save_pretrained(save_directory, *args, **kwargs)


class Seq2SeqModel(Seq2SeqPreTrainedModel):
    r"""The bare encoder-decoder: returns the attentional hidden states h~_t (h_t without attention)."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__(config)
        self.encoder = Seq2SeqEncoder(config)
        self.decoder = Seq2SeqDecoder(config, self.encoder.output_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value):
        self.encoder.embed_tokens = value

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
        encoder_outputs: Seq2SeqEncoderOutput | tuple | None = None,
        past_key_values: Seq2SeqDecoderState | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: Seq2SeqDecoderState | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        """Encode the source (unless `encoder_outputs` are given) and decode `decoder_input_ids`."""
        outputs = self._run(input_ids, attention_mask, decoder_input_ids, encoder_outputs,
                            _one_state(past_key_values, cache),
                            use_cache, output_attentions, output_hidden_states)
        return outputs if self._return_dict(return_dict) else outputs.to_tuple()

    def _return_dict(self, return_dict: bool | None) -> bool:
        return return_dict if return_dict is not None else getattr(self.config, "return_dict", True)

    def _run(self, input_ids, attention_mask, decoder_input_ids, encoder_outputs, past_key_values, use_cache,
             output_attentions, output_hidden_states, predict_next_token=None) -> Seq2SeqModelOutput:
        """The shared forward pass; `predict_next_token` (from the LM head) enables teacher_forcing_ratio < 1."""
        if decoder_input_ids is None:
            raise ValueError("decoder_input_ids (or labels, for Seq2SeqForConditionalGeneration) are required")
        _check_token_ids("decoder_input_ids", decoder_input_ids, self.config.target_vocab_size, "target_vocab_size")
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                                           return_dict=True)
        elif isinstance(encoder_outputs, (tuple, list)):
            if len(encoder_outputs) != 3:
                raise ValueError("encoder_outputs as a tuple must be (last_hidden_state, final_hidden_state, "
                                 f"final_cell_state), got {len(encoder_outputs)} items")
            encoder_outputs = Seq2SeqEncoderOutput(last_hidden_state=encoder_outputs[0],
                                                   final_hidden_state=encoder_outputs[1],
                                                   final_cell_state=encoder_outputs[2])
        memory = encoder_outputs.last_hidden_state  # (batch, S, D)
        if attention_mask is None:
            source_mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        elif past_key_values is not None:
            source_mask = attention_mask.bool()  # checked on the first step; generate() reuses it for every token
        else:
            source_mask = _check_attention_mask(attention_mask, memory.shape[:2])
        if memory.shape[0] != decoder_input_ids.shape[0]:
            raise ValueError(f"decoder_input_ids has batch size {decoder_input_ids.shape[0]} but the source has "
                             f"{memory.shape[0]}")

        state = past_key_values if past_key_values is not None else self.decoder.initial_state(encoder_outputs)
        ratio = self.config.teacher_forcing_ratio if self.training else 1.0
        decoder_outputs, weights, new_state = self.decoder(decoder_input_ids, memory, source_mask, state,
                                                           teacher_forcing_ratio=ratio,
                                                           predict_next_token=predict_next_token)
        use_cache = use_cache if use_cache is not None else False
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs,
            **{CACHE_NAME: new_state if use_cache else None},
            decoder_hidden_states=(decoder_outputs,) if output_hidden_states else None,
            cross_attentions=(weights.unsqueeze(1),) if output_attentions and weights is not None else None,
            encoder_last_hidden_state=memory,
            encoder_hidden_states=encoder_outputs.hidden_states if output_hidden_states else None,
        )


class Seq2SeqForConditionalGeneration(Seq2SeqPreTrainedModel, GenerationMixin):
    r"""The encoder-decoder with its output layer p(y_t | y_<t, x) = softmax(W_s h~_t); works with `generate()`.

    `cross_attentions` (with `output_attentions=True`) holds one tensor (batch, 1, target_len, source_len): the
    attention weights a_t(s), one "head". They are None for `attention_type="none"`.
    """

    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: Seq2SeqConfig):
        super().__init__(config)
        self.model = Seq2SeqModel(config)
        self.output_dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.target_vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.encoder.embed_tokens

    def set_input_embeddings(self, value):
        self.model.encoder.embed_tokens = value

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
        encoder_outputs: Seq2SeqEncoderOutput | tuple | None = None,
        past_key_values: Seq2SeqDecoderState | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: Seq2SeqDecoderState | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        """Logits over the target vocabulary and, with `labels`, the mean token cross-entropy (-100 ignored).

        `decoder_attention_mask` is accepted for API compatibility: the decoder is causal and right padding never
        changes earlier positions, so the labels (-100 on padding) decide what the loss sees.
        """
        if labels is not None:
            _check_labels(labels, self.config.target_vocab_size)
            if decoder_input_ids is None:
                decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id,
                                                       self.config.decoder_start_token_id)
            elif decoder_input_ids.shape != labels.shape:
                raise ValueError(f"labels have shape {tuple(labels.shape)} but decoder_input_ids have shape "
                                 f"{tuple(decoder_input_ids.shape)}")

        def predict_next_token(attentional: torch.Tensor) -> torch.Tensor:
            """argmax_y p(y | h~_t), the model's own choice fed back when teacher forcing is off for a step."""
            return self.lm_head(attentional).argmax(dim=-1)

        outputs = self.model._run(input_ids, attention_mask, decoder_input_ids, encoder_outputs,
                                  _one_state(past_key_values, cache), use_cache, output_attentions, output_hidden_states,
                                  predict_next_token=predict_next_token)
        logits = self.lm_head(self.output_dropout(outputs.last_hidden_state))  # (batch, T, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=IGNORE_INDEX)
        result = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            decoder_hidden_states=outputs.decoder_hidden_states,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
        )
        return result if self.model._return_dict(return_dict) else result.to_tuple()

    def prepare_inputs_for_generation(
        self,
        decoder_input_ids: torch.LongTensor,
        past_key_values: Seq2SeqDecoderState | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: Seq2SeqEncoderOutput | None = None,
        use_cache: bool | None = None,
        cache: Seq2SeqDecoderState | None = None,
        **kwargs,
    ) -> dict:
        """With a decoder state, feed only the tokens it has not read yet (the last one); otherwise the whole prefix."""
        past_key_values = _one_state(past_key_values, cache)
        if past_key_values is not None:
            decoder_input_ids = decoder_input_ids[:, past_key_values.get_seq_length():]
        inputs = {
            "input_ids": None,
            "attention_mask": attention_mask,
            "encoder_outputs": encoder_outputs,
            "decoder_input_ids": decoder_input_ids,
            CACHE_NAME: past_key_values,
            "use_cache": use_cache,
        }
        for key in ("output_attentions", "output_hidden_states"):
            if key in kwargs:
                inputs[key] = kwargs[key]
        return inputs


def _check_labels(labels: torch.Tensor, vocab_size: int) -> None:
    """Labels are target token ids or -100 (ignored)."""
    if labels.dim() != 2:
        raise ValueError(f"labels must have shape (batch, target_length), got {tuple(labels.shape)}")
    valid = (labels == IGNORE_INDEX) | ((labels >= 0) & (labels < vocab_size))
    if not bool(valid.all()):
        bad = labels[~valid]
        raise ValueError(f"labels hold {bad.numel()} value(s) outside [0, target_vocab_size={vocab_size}) that are "
                         f"not -100 (ignored), e.g. {int(bad[0])}")


def plot_attention(attentions, source_tokens: list[str], target_tokens: list[str], path: str | os.PathLike | None = None,
                   title: str | None = None):
    """Draw the source-target alignment a_t(s) as a heatmap (Bahdanau et al. 2015, fig. 3); returns the Figure.

    `attentions`: weights of one example, shape (target_len, source_len) (leading size-1 batch/head dims are
    squeezed), a tensor or array. With `path`, the figure is also saved there (PNG, PDF, ... by its extension).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(attentions, torch.Tensor):
        attentions = attentions.detach().float().cpu().numpy()
    import numpy as np

    weights = np.asarray(attentions, dtype=np.float64)
    while weights.ndim > 2 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim != 2:
        raise ValueError(f"plot_attention: attentions must be (target_len, source_len) for one example, got shape "
                         f"{tuple(np.asarray(attentions).shape)}")
    if weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(f"plot_attention: attentions have shape {weights.shape} but there are {len(target_tokens)} "
                         f"target_tokens and {len(source_tokens)} source_tokens")
    figure = Figure(figsize=(max(4.0, 0.5 * len(source_tokens) + 2), max(3.0, 0.5 * len(target_tokens) + 1.5)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), labels=list(source_tokens), rotation=90)
    axes.set_yticks(range(len(target_tokens)), labels=list(target_tokens))
    axes.set_xlabel("source")
    axes.set_ylabel("target")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    if path is not None:
        figure.savefig(os.fspath(path))
    return figure


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.seq2seq and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_seq2seq config
    "AutoModel": Seq2SeqModel,
    "AutoModelForSeq2SeqLM": Seq2SeqForConditionalGeneration,
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


AUTO_MAP = _auto_map(Seq2SeqConfig, HEADS)
_register_for_auto_classes(Seq2SeqConfig, HEADS)

__all__ = ["Seq2SeqAttention", "Seq2SeqDecoder", "Seq2SeqDecoderState", "Seq2SeqEncoder", "Seq2SeqEncoderOutput",
           "Seq2SeqPreTrainedModel", "plot_attention", "shift_tokens_right"]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
