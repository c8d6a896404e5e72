"""Recurrent networks as the lecture draws them: Elman RNN, LSTM (Hochreiter & Schmidhuber 1997), GRU (Cho et al. 2014).

One set of parameters, two ways to run it. The parameters live on torch's fused `nn.RNN`/`nn.LSTM`/`nn.GRU` module
(`model.rnn.weight_ih_l{k}[_reverse]`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, gate chunks in torch's order
i, f, g, o for the LSTM and r, z, n for the GRU). `implementation="fused"` (the default) runs torch's kernels;
`implementation="cells"` runs the lecture's `RNNCell`/`LSTMCell`/`GRUCell` step by step on the very same tensors.

Padding: any attention_mask whose ones form one contiguous block per row works (right padding, left padding for
batched generation). The fused path packs the real tokens (`pack_padded_sequence`, after shifting left-padded rows to
the left); the cell path carries the state unchanged across pad steps. Pad positions' outputs are zero. Both give,
on every real token, the outputs of the sequence run alone.

This file imports only torch, transformers and `.configuration_rnn`, so a saved folder loads with
`trust_remote_code=True`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.loss.loss_utils import (
    ForSequenceClassificationLoss,
    ForTokenClassification,
)
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.utils import can_return_tuple

from .configuration_rnn import RnnConfig

# transformers 5.24 renamed generate()'s cache argument and the outputs' field from `past_key_values` to `cache`;
# the state is passed under the name the installed version uses, and accepted under both.
CACHE_NAME = "cache" if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {}) else "past_key_values"


def _one_state(past_key_values, cache):
    """The recurrent state given under either name (`past_key_values` before transformers 5.24, `cache` since)."""
    if past_key_values is not None and cache is not None and past_key_values is not cache:
        raise ValueError("give the recurrent state as past_key_values or as cache, not both")
    return cache if cache is not None else past_key_values


def _state_of(outputs):
    """The state an output carries, read under the installed transformers' field name (no deprecation warning)."""
    return getattr(outputs, CACHE_NAME)

IGNORE_INDEX = -100


# ----------------------------------------------------------------------------------------------------------------------
# Input checks: bad input stops here with a message that names the field, not deep inside torch.
# ----------------------------------------------------------------------------------------------------------------------
# Copied from hf_models.bert.modeling_bert._check_ids
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


# Copied from hf_models.bert.modeling_bert._check_labels
def _check_labels(name: str, labels: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    """Raise a ValueError naming `name` when labels do not have the shape the head needs."""
    if tuple(labels.shape) != tuple(expected):
        raise ValueError(f"{name} has shape {tuple(labels.shape)}, expected {tuple(expected)} ({what})")


def _spans_from_mask(attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, length) of each row's one contiguous block of real tokens; a clear error for any other mask."""
    keep = attention_mask.bool()
    lengths = keep.sum(dim=1)  # (batch,)
    if bool((lengths == 0).any()):
        row = int((lengths == 0).nonzero()[0, 0])
        raise ValueError(f"attention_mask row {row} has no real token (all zeros)")
    start = keep.int().argmax(dim=1)  # first 1 of each row
    positions = torch.arange(keep.shape[1], device=keep.device)[None, :]  # (1, seq)
    block = (positions >= start[:, None]) & (positions < (start + lengths)[:, None])
    if not torch.equal(block, keep):
        row = int((block != keep).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"attention_mask row {row} has holes: the real tokens of a row must be contiguous "
            "(right padding, or left padding for batched generation)"
        )
    return start, lengths


def _shift_rows(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """out[b, t] = x[b, (t + shift[b]) mod seq]: moves each row's tokens `shift[b]` steps to the left."""
    seq = x.shape[1]
    index = (torch.arange(seq, device=x.device)[None, :] + shift[:, None]) % seq  # (batch, seq)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)  # (batch, seq, ...) like x
    return x.gather(1, index)


# ----------------------------------------------------------------------------------------------------------------------
# The lecture's cells. They own no parameters: they read the fused module's tensors, so both paths share one state_dict.
# ----------------------------------------------------------------------------------------------------------------------
class RNNCell(nn.Module):
    """Elman (1990) cell: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or ReLU for "rnn_relu")."""

    def __init__(self, nonlinearity: str = "tanh"):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.activation = torch.tanh if nonlinearity == "tanh" else torch.relu

    def forward(self, x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
        """One step of h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); x_t (batch, in), h_prev (batch, hidden)."""
        return self.activation(F.linear(x_t, weight_ih, bias_ih) + F.linear(h_prev, weight_hh, bias_hh))


class LSTMCell(nn.Module):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000); torch's gate order i, f, g, o."""

    def forward(self, x_t, state, weight_ih, weight_hh, bias_ih, bias_hh):
        """One step; state = (h_{t-1}, c_{t-1}), each (batch, hidden); returns (h_t, c_t)."""
        h_prev, c_prev = state
        gates = F.linear(x_t, weight_ih, bias_ih) + F.linear(h_prev, weight_hh, bias_hh)  # (batch, 4 * hidden)
        i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (batch, hidden)
        i = torch.sigmoid(i)  # input gate     i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f = torch.sigmoid(f)  # forget gate    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g = torch.tanh(g)  # candidate cell    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o = torch.sigmoid(o)  # output gate    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c = f * c_prev + i * g  # cell state   c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h = o * torch.tanh(c)  # hidden state  h_t = o_t ⊙ tanh(c_t)
        return h, c


class GRUCell(nn.Module):
    """GRU cell (Cho et al. 2014); torch's gate order r, z, n."""

    def forward(self, x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
        """One step; h_prev (batch, hidden); returns h_t."""
        x_r, x_z, x_n = F.linear(x_t, weight_ih, bias_ih).chunk(3, dim=-1)  # 3 x (batch, hidden)
        h_r, h_z, h_n = F.linear(h_prev, weight_hh, bias_hh).chunk(3, dim=-1)  # 3 x (batch, hidden)
        r = torch.sigmoid(x_r + h_r)  # reset gate    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = torch.sigmoid(x_z + h_z)  # update gate   z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = torch.tanh(x_n + r * h_n)  # candidate    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        return (1 - z) * n + z * h_prev  # new state  h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}


def make_cell(cell_type: str) -> nn.Module:
    """The lecture cell for a config's cell_type."""
    if cell_type == "lstm":
        return LSTMCell()
    if cell_type == "gru":
        return GRUCell()
    return RNNCell("tanh" if cell_type == "rnn_tanh" else "relu")


# ----------------------------------------------------------------------------------------------------------------------
# The recurrent state: the "cache" of generate()
# ----------------------------------------------------------------------------------------------------------------------
class RnnState:
    """The recurrent state after the tokens seen so far: what a KV cache is for a Transformer.

    `hidden` (and `cell` for the LSTM) are laid out as torch's fused modules expect,
    (num_layers * num_directions, batch, hidden_size). `reorder_cache(beam_idx)` picks the batch rows that beam search
    keeps, so the state of each surviving beam follows it.
    """

    # the state's tensors and their batch dimension (a None tensor is skipped)
    _batch_dims = (("hidden", 1), ("cell", 1))

    def __init__(self, hidden: torch.Tensor, cell: torch.Tensor | None = None, seen_tokens: int = 0):
        self.hidden = hidden
        self.cell = cell
        self.seen_tokens = seen_tokens

    def to_tuple(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The state as torch's fused module takes it: h, or (h, c) for the LSTM."""
        return self.hidden if self.cell is None else (self.hidden, self.cell)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of tokens the state has consumed (the prompt plus generated tokens)."""
        return self.seen_tokens

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Beam search: keep, for every new beam (row), the state of the beam it extends."""
        for name, dim in self._batch_dims:
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.index_select(dim, beam_idx.to(tensor.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row `repeats` times (generate's expansion for beams or several returned sequences)."""
        for name, dim in self._batch_dims:
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.repeat_interleave(repeats, dim=dim))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the given batch rows."""
        self.reorder_cache(indices)

    def __repr__(self) -> str:
        return f"RnnState(hidden={tuple(self.hidden.shape)}, lstm={self.cell is not None}, seen={self.seen_tokens})"


# ----------------------------------------------------------------------------------------------------------------------
# Base classes
# ----------------------------------------------------------------------------------------------------------------------
_FUSED_CLASSES = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RnnPreTrainedModel(PreTrainedModel):
    config_class = RnnConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _no_split_modules = ["RnnModel"]  # noqa: RUF012  (transformers reads a list)
    # The loss is a mean over the batch; the Trainer must not rescale it by num_items_in_batch or the world size.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """U(-r, r) for every weight (Zaremba et al. 2014), zero biases of linear layers, a zero padding row."""
        # transformers' init functions (and torch's, which transformers guards while it initialises) leave the
        # weights that from_pretrained loaded alone; tensor methods like weight.uniform_() would overwrite them.
        r = self.config.initializer_range
        if isinstance(module, nn.RNNBase):
            if r is not None:
                for param in module.parameters():
                    init.uniform_(param, -r, r)
            else:
                module.reset_parameters()
        elif isinstance(module, nn.Embedding):
            if r is not None:
                init.uniform_(module.weight, -r, r)
            else:
                init.normal_(module.weight, 0.0, 1.0)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.Linear):
            if r is not None:
                init.uniform_(module.weight, -r, r)
            else:
                module.reset_parameters()
            if module.bias is not None:
                init.zeros_(module.bias)

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

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights (safetensors), config and, for trust_remote_code, the code with an auto_map of every head."""
        if self._auto_class is not None:
            self.config.auto_map = dict(AUTO_MAP)
        return super().save_pretrained(save_directory, *args, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# The encoder / decoder stack
# ----------------------------------------------------------------------------------------------------------------------
class RnnModel(RnnPreTrainedModel):
    """Embeddings and a stack of recurrent layers; returns per-token outputs and the final recurrent state."""

    def __init__(self, config: RnnConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        fused_class = _FUSED_CLASSES[config.cell_type]
        extra = {"nonlinearity": config.cell_type[4:]} if fused_class is nn.RNN else {}
        self.rnn = fused_class(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            **extra,
        )
        self.cell = make_cell(config.cell_type)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    # --- parameters of one layer and direction, as the cells read them ------------------------------------------------
    def _layer_weights(self, layer: int, direction: int) -> tuple[torch.Tensor, ...]:
        """(W_ih, W_hh, b_ih, b_hh) of one layer and direction, read from the fused module."""
        suffix = f"l{layer}" + ("_reverse" if direction == 1 else "")
        return tuple(getattr(self.rnn, f"{kind}_{suffix}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _layer_template(self, layer: int) -> nn.RNNBase:
        """A one-layer fused module on the meta device; `functional_call` runs it on layer `layer`'s real weights."""
        templates = self.__dict__.setdefault("_layer_templates", {})
        if layer not in templates:
            c = self.config
            fused_class = _FUSED_CLASSES[c.cell_type]
            extra = {"nonlinearity": c.cell_type[4:]} if fused_class is nn.RNN else {}
            input_size = c.embedding_size if layer == 0 else c.output_size
            templates[layer] = fused_class(
                input_size, c.hidden_size, num_layers=1, batch_first=True, bidirectional=c.bidirectional,
                device="meta", **extra,
            )
        return templates[layer]

    # --- forward ------------------------------------------------------------------------------------------------------
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: RnnState | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.Tensor | None = None,  # accepted (tokenizers return it) and ignored: no segments here
        cache: RnnState | None = None,
        **kwargs,
    ) -> tuple | BaseModelOutputWithPast:
        c = self.config
        past_key_values = _one_state(past_key_values, cache)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("RnnModel: give exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            if input_ids.dim() != 2:
                raise ValueError(f"input_ids must have shape (batch, seq), got {tuple(input_ids.shape)}")
            _check_ids("input_ids", input_ids, c.vocab_size, "vocab_size")
            # looked up time-major and viewed batch-major: the recurrence, dropout masks included, then runs on
            # (seq, batch) memory as torch's seq-first nn.LSTM does, with no transposing copies
            inputs_embeds = self.embeddings(input_ids.t()).transpose(0, 1)  # (seq, batch, E) -> (batch, seq, E)
        elif inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != c.embedding_size:
            raise ValueError(
                f"inputs_embeds must have shape (batch, seq, embedding_size={c.embedding_size}), "
                f"got {tuple(inputs_embeds.shape)}"
            )
        batch, seq = inputs_embeds.shape[:2]
        if seq == 0:
            raise ValueError("RnnModel: the input has no tokens (seq length 0)")
        output_hidden_states = output_hidden_states if output_hidden_states is not None else c.output_hidden_states
        use_cache = True if use_cache is None else use_cache

        if past_key_values is not None:
            if c.bidirectional:
                raise ValueError("past_key_values: a bidirectional RNN cannot continue from a state (RnnConfig.bidirectional)")
            if not isinstance(past_key_values, RnnState):
                raise TypeError(f"past_key_values must be an RnnState (from a previous call), got {type(past_key_values).__name__}")
            expected = (c.num_layers * c.num_directions, batch, c.hidden_size)
            if tuple(past_key_values.hidden.shape) != expected:
                raise ValueError(f"past_key_values.hidden has shape {tuple(past_key_values.hidden.shape)}, expected {expected}")
        mask = None
        if attention_mask is not None:
            if attention_mask.dim() != 2 or attention_mask.shape[0] != batch or attention_mask.shape[1] < seq:
                raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected ({batch}, {seq})")
            mask = attention_mask[:, -seq:]  # with a state, the mask may also cover the tokens already consumed
            if bool(mask.bool().all()):
                mask = None  # nothing is padded: the plain (fastest) path

        x = self.dropout(inputs_embeds)
        initial = past_key_values.to_tuple() if past_key_values is not None else None
        if c.implementation == "fused":
            outputs, final, layer_outputs = self._run_fused(x, mask, initial, output_hidden_states)
        else:
            outputs, final, layer_outputs = self._run_cells(x, mask, initial)

        state = None
        if use_cache:
            seen = (past_key_values.seen_tokens if past_key_values is not None else 0) + seq
            state = RnnState(final[0], final[1], seen) if isinstance(final, tuple) else RnnState(final, None, seen)
        hidden_states = (inputs_embeds, *layer_outputs) if output_hidden_states else None
        return BaseModelOutputWithPast(last_hidden_state=outputs, hidden_states=hidden_states, **{CACHE_NAME: state})

    def _run_fused(self, x, mask, initial, per_layer: bool):
        """torch's fused kernels over packed real tokens; returns (outputs, final state, per-layer outputs)."""
        c = self.config
        start = None
        if mask is not None:
            start, lengths = _spans_from_mask(mask)
            x = _shift_rows(x, start)  # left-padded rows become right-padded: real tokens first
            inputs = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        else:
            inputs = x

        layer_outputs = []
        if not per_layer:
            if x.is_cuda:
                self.rnn.flatten_parameters()  # cuDNN wants one contiguous weight buffer (no-op when it already is)
            outputs, final = self.rnn(inputs, initial)
        else:
            # Layer by layer, on the same weights, to expose every layer's outputs (output_hidden_states).
            finals, outputs = [], inputs
            d = c.num_directions
            for layer in range(c.num_layers):
                if layer > 0 and self.training and c.dropout > 0:  # the dropout nn.LSTM puts between layers
                    outputs = self._dropout_between_layers(outputs)
                weights = {}
                for direction in range(d):
                    suffix = "_reverse" if direction == 1 else ""
                    for kind, tensor in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                            self._layer_weights(layer, direction)):
                        weights[f"{kind}_l0{suffix}"] = tensor
                layer_initial = None
                if initial is not None:
                    rows = slice(layer * d, (layer + 1) * d)
                    layer_initial = tuple(t[rows] for t in initial) if isinstance(initial, tuple) else initial[rows]
                outputs, layer_final = functional_call(self._layer_template(layer), weights, (outputs, layer_initial))
                finals.append(layer_final)
                layer_outputs.append(self._unpack(outputs, mask, start, x.shape[1]))
            if isinstance(finals[0], tuple):
                final = (torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals]))
            else:
                final = torch.cat(finals)
        return self._unpack(outputs, mask, start, x.shape[1]), final, layer_outputs

    def _dropout_between_layers(self, outputs):
        """Dropout on a layer's outputs before the next layer (Zaremba et al. 2014), packed or not."""
        if isinstance(outputs, PackedSequence):
            return outputs._replace(data=F.dropout(outputs.data, self.config.dropout, True))
        return F.dropout(outputs, self.config.dropout, True)

    @staticmethod
    def _unpack(outputs, mask, start, seq: int) -> torch.Tensor:
        """Packed outputs back to (batch, seq, features), each row shifted back to its place, zeros at pad steps."""
        if mask is None:
            return outputs
        padded, _ = pad_packed_sequence(outputs, batch_first=True, total_length=seq)  # (batch, seq, features)
        padded = _shift_rows(padded, (seq - start) % seq)  # undo the left shift
        return padded * mask[:, :, None].to(padded.dtype)

    def _run_cells(self, x, mask, initial):
        """The lecture's cells, step by step; at a pad step the state is carried over unchanged."""
        c = self.config
        batch, seq = x.shape[:2]
        d, is_lstm = c.num_directions, c.cell_type == "lstm"
        keep = mask.bool()[:, :, None] if mask is not None else None  # (batch, seq, 1)
        if initial is None:
            zeros = x.new_zeros(c.num_layers * d, batch, c.hidden_size)
            initial = (zeros, zeros) if is_lstm else zeros
        finals_h, finals_c, layer_outputs = [], [], []
        layer_input = x
        for layer in range(c.num_layers):
            if layer > 0:
                layer_input = F.dropout(layer_input, c.dropout, self.training)  # between layers, as nn.LSTM does
            directions = []
            for direction in range(d):
                weights = self._layer_weights(layer, direction)
                row = layer * d + direction
                state = (initial[0][row], initial[1][row]) if is_lstm else initial[row]  # (batch, hidden) each
                steps = range(seq) if direction == 0 else range(seq - 1, -1, -1)
                outs = [None] * seq
                for t in steps:
                    new_state = self.cell(layer_input[:, t], state, *weights)
                    if keep is not None:  # pad step: carry the state over unchanged
                        if is_lstm:
                            new_state = tuple(torch.where(keep[:, t], new, old) for new, old in zip(new_state, state))
                        else:
                            new_state = torch.where(keep[:, t], new_state, state)
                    state = new_state
                    h = state[0] if is_lstm else state
                    outs[t] = h if keep is None else h * keep[:, t].to(h.dtype)
                directions.append(torch.stack(outs, dim=1))  # (batch, seq, hidden)
                finals_h.append(state[0] if is_lstm else state)
                if is_lstm:
                    finals_c.append(state[1])
            layer_input = torch.cat(directions, dim=-1)  # (batch, seq, hidden * num_directions)
            layer_outputs.append(layer_input)
        final_h = torch.stack(finals_h)  # (num_layers * num_directions, batch, hidden)
        final = (final_h, torch.stack(finals_c)) if is_lstm else final_h
        return layer_input, final, layer_outputs


# ----------------------------------------------------------------------------------------------------------------------
# Heads
# ----------------------------------------------------------------------------------------------------------------------
class RnnForCausalLM(RnnPreTrainedModel, GenerationMixin):
    """An RNN language model (Mikolov et al. 2010; Zaremba et al. 2014): p(w_t | w_<t) = softmax(W h_t + b).

    With `tie_word_embeddings` the output matrix W is the input embedding matrix (Press & Wolf 2017); when
    `embedding_size != hidden_size` a learned projection maps h_t to `embedding_size` first. Works with `generate()`:
    the recurrent state is the cache (`RnnState`), reordered under beam search. Batched prompts must be left-padded.
    """

    _tied_weights_keys = {"lm_head.weight": "model.embeddings.weight"}  # noqa: RUF012  (transformers 5: {target: source})

    def __init__(self, config: RnnConfig):
        if config.bidirectional:
            raise ValueError("RnnForCausalLM needs RnnConfig.bidirectional=False: a language model reads left to right")
        super().__init__(config)
        self.model = RnnModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.projection = (
            nn.Linear(config.hidden_size, config.embedding_size, bias=False)
            if config.hidden_size != config.embedding_size else None
        )
        self.lm_head = nn.Linear(config.embedding_size, config.vocab_size)
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        """The cache is the recurrent state (RnnState), never a transformers DynamicCache of keys and values."""
        return False

    def get_input_embeddings(self):
        return self.model.embeddings

    def set_input_embeddings(self, value):
        self.model.embeddings = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: RnnState | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        cache: RnnState | None = None,
        **kwargs,
    ) -> tuple | CausalLMOutputWithPast:
        outputs = self.model(
            input_ids, attention_mask, _one_state(past_key_values, cache), inputs_embeds, use_cache=use_cache,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        # The recurrence ran on time-major memory: the output layer reads it as it lies (seq, batch, hidden), as
        # torch's seq-first LSTM language models do, and the logits come back as a (batch, seq, vocab) view.
        hidden = self.dropout(outputs.last_hidden_state).transpose(0, 1)  # (batch, seq, hidden) -> (seq, batch, hidden)
        if self.projection is not None:
            hidden = self.projection(hidden)  # (seq, batch, embedding_size)
        logits = self.lm_head(hidden).transpose(0, 1)  # (seq, batch, vocab) -> (batch, seq, vocab)
        loss = None
        if labels is not None:
            _check_labels("labels", labels, logits.shape[:2], "one token id or -100 per input token")
            # next-token prediction: position t predicts labels[t + 1]
            shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()  # (batch * (seq - 1), vocab)
            shift_labels = labels[:, 1:].reshape(-1)  # (batch * (seq - 1),)
            loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX)
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, **{CACHE_NAME: _state_of(outputs)}
        )

    def prepare_inputs_for_generation(
        self, input_ids, past_key_values=None, attention_mask=None, inputs_embeds=None, use_cache=True, cache=None,
        **kwargs,
    ):
        """Feed the whole prompt once, then only the tokens the state has not consumed yet (the last one)."""
        past_key_values = _one_state(past_key_values, cache)
        if past_key_values is None:
            if attention_mask is not None and not bool(attention_mask[:, -1].bool().all()):
                raise ValueError(
                    "RnnForCausalLM.generate: the prompts are right-padded (attention_mask ends with 0); pad batched "
                    "prompts on the left (tokenizer.padding_side = 'left')"
                )
            if inputs_embeds is not None:
                return {"inputs_embeds": inputs_embeds, "attention_mask": attention_mask, "use_cache": use_cache}
            return {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": use_cache}
        # The state has consumed everything but the token generated last; that token is real, so no mask is needed
        # (the state already skipped the prompt's padding).
        new_ids = input_ids[:, -1:]  # (batch, 1)
        return {"input_ids": new_ids, CACHE_NAME: past_key_values, "use_cache": use_cache}


# Copied from hf_models.bert.modeling_bert._classifier_dropout with BertConfig->RnnConfig,hidden_dropout_prob->dropout
def _classifier_dropout(config: RnnConfig) -> nn.Dropout:
    """Dropout before a classifier: classifier_dropout, or the model's dropout when unset."""
    p = config.classifier_dropout if config.classifier_dropout is not None else config.dropout
    return nn.Dropout(p)


class RnnForSequenceClassification(RnnPreTrainedModel):
    """Sentiment / text classification: a pooled summary of the sequence -> dropout -> linear.

    Pooling "last" takes the forward state at the last real token and, when bidirectional, the backward state at the
    first real token (each direction's summary of the whole sequence); "max" / "mean" pool over the real tokens.
    """

    def __init__(self, config: RnnConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = RnnModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.output_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embeddings

    def set_input_embeddings(self, value):
        self.model.embeddings = value

    def _pool(self, outputs: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(batch, seq, output_size) -> (batch, output_size) over each row's real tokens."""
        batch, seq = outputs.shape[:2]
        if attention_mask is None:
            keep = torch.ones(batch, seq, dtype=torch.bool, device=outputs.device)
        else:
            keep = attention_mask[:, -seq:].bool()
        pooling = self.config.classifier_pooling
        if pooling == "max":
            return outputs.masked_fill(~keep[:, :, None], torch.finfo(outputs.dtype).min).max(dim=1).values
        if pooling == "mean":
            weights = keep[:, :, None].to(outputs.dtype)  # (batch, seq, 1)
            return (outputs * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        start, lengths = _spans_from_mask(keep)
        rows = torch.arange(batch, device=outputs.device)
        hidden = self.config.hidden_size
        forward_last = outputs[rows, start + lengths - 1, :hidden]  # (batch, hidden): left-to-right summary
        if not self.config.bidirectional:
            return forward_last
        backward_first = outputs[rows, start, hidden:]  # (batch, hidden): right-to-left summary
        return torch.cat([forward_last, backward_first], dim=-1)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple | SequenceClassifierOutput:
        outputs = self.model(
            input_ids, attention_mask, None, inputs_embeds, use_cache=False,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        pooled = self._pool(outputs.last_hidden_state, attention_mask)  # (batch, output_size)
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)
        loss = self._classification_loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    # Copied from hf_models.bert.modeling_bert.BertForSequenceClassification._classification_loss
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


class RnnForTokenClassification(RnnPreTrainedModel):
    """A (Bi)LSTM tagger (Huang et al. 2015, without the CRF): a linear classifier on every token's output; -100 ignored."""

    def __init__(self, config: RnnConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = RnnModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.output_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embeddings

    def set_input_embeddings(self, value):
        self.model.embeddings = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.Tensor | None = None,  # tokenizers return it; accepted and ignored
        **kwargs,
    ) -> tuple | TokenClassifierOutput:
        outputs = self.model(
            input_ids, attention_mask, None, inputs_embeds, use_cache=False,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))  # (batch, seq, num_labels)
        loss = _token_classification_loss(logits, labels, self.config) if labels is not None else None
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


# Copied from hf_models.bert.modeling_bert._token_classification_loss
def _token_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Cross-entropy over every labelled token (-100 ignored; transformers' ForTokenClassification), labels checked."""
    _check_labels("labels", labels, logits.shape[:2], "one label id or -100 per input token")
    valid = labels[labels != IGNORE_INDEX]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= config.num_labels):
        raise ValueError(f"labels must be in [0, num_labels={config.num_labels}) or -100")
    return ForTokenClassification(logits.contiguous(), labels.contiguous(), config, ignore_index=IGNORE_INDEX)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.rnn and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_rnn config
    "AutoModel": RnnModel,
    "AutoModelForCausalLM": RnnForCausalLM,
    "AutoModelForSequenceClassification": RnnForSequenceClassification,
    "AutoModelForTokenClassification": RnnForTokenClassification,
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


AUTO_MAP = _auto_map(RnnConfig, HEADS)
_register_for_auto_classes(RnnConfig, HEADS)

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RnnPreTrainedModel", "RnnState", "make_cell"]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
