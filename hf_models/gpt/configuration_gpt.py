"""GPT configuration: the decoder-only Transformer from GPT-1 (Radford et al. 2018) and GPT-2 (Radford et al. 2019) to
its modern descendants (Llama: rotary positions, RMSNorm, a gated feed-forward network, grouped-query attention).

The field names are GPT-2's (n_embd, n_layer, n_head, n_positions, ...). A config.json of transformers' "openai-gpt",
"gpt2" or "llama" model_type is read as the same architecture (`GPTConfig.from_transformers`), so their checkpoints
load into hf_models' GPT classes (see `hf_models.gpt.convert_gpt`).
"""

from typing import ClassVar

from transformers import PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

LAYER_NORM_POSITIONS = ("post", "pre")
POSITION_EMBEDDINGS = ("learned", "rotary")
NORM_TYPES = ("layernorm", "rmsnorm")
FEED_FORWARDS = ("mlp", "swiglu")
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
# transformers' model_types whose config.json (and checkpoints) this config reads
TRANSFORMERS_MODEL_TYPES = ("openai-gpt", "gpt2", "llama")


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")


def _one_of(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"GPTConfig.{name} must be one of {allowed}, got {value!r}")


class GPTConfig(PretrainedConfig):
    r"""Configuration of hf_models' GPT decoder.

    The defaults are GPT-2 small (12 layers, 768 wide, 12 heads, 1024 positions, pre-LN with a final LayerNorm,
    learned positions, a GELU MLP of 4 x 768, biases, the output layer tied to the token embeddings). `GPTConfig.gpt1`,
    `GPTConfig.gpt2` and `GPTConfig.llama` give each generation's settings.

    Args:
        vocab_size: the number of tokens.
        n_positions: the longest sequence (learned positions: the table's size; rotary: the context it was trained for).
        n_embd: the width of the residual stream. n_layer: the number of blocks. n_head: query heads.
        n_kv_head: key/value heads (grouped-query attention, Ainslie et al. 2023: each key/value head serves
            n_head / n_kv_head query heads; default n_head, plain multi-head attention).
        head_dim: the width of each head (default n_embd / n_head).
        n_inner: the feed-forward network's inner width (default 4 x n_embd).
        activation_function: the MLP's non-linearity (GPT-1 and GPT-2: "gelu_new", the tanh approximation; the gated
            network's: "silu").
        layer_norm_position: "post" (GPT-1: LayerNorm(x + Sublayer(x))) or "pre" (GPT-2: x + Sublayer(LayerNorm(x))).
        final_layer_norm: a LayerNorm after the last block (GPT-2 and later; needed by pre-LN, whose residual stream
            is never normalised otherwise).
        position_embedding: "learned" (GPT-1, GPT-2: a trained vector per position, added to the embeddings) or
            "rotary" (RoFormer, Su et al. 2021: queries and keys rotated by their position).
        rope_theta: the base of the rotary frequencies (10000 in RoFormer).
        norm_type: "layernorm" or "rmsnorm" (Zhang and Sennrich 2019: no centring, no bias).
        feed_forward: "mlp" (fc, activation, projection) or "swiglu" (Shazeer 2020: act(x W_gate) * (x W_up) W_down).
        bias: biases in the attention and feed-forward projections (GPT: yes; Llama: no).
        embd_pdrop, resid_pdrop, attn_pdrop: dropout on the embeddings, on each sub-layer output, on the attention
            probabilities.
        layer_norm_epsilon: epsilon of every LayerNorm / RMSNorm.
        initializer_range: the standard deviation of the normal initialisation.
        scale_attn_weights: divide the attention scores by sqrt(head_dim).
        tie_word_embeddings: the output layer is the token embedding matrix (GPT-1, GPT-2; Llama 2: no).
        lm_loss_coef: GPT-1's auxiliary language-modelling loss weight lambda in fine-tuning (`GPTDoubleHeadsModel`:
            L = L_task + lambda L_LM; 0.5 in the paper).
        summary_first_dropout: dropout on the extracted token's state before the classifier.
    """

    model_type = "hf_gpt"
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["past_key_values", "cache"]
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "n_embd",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "num_key_value_heads": "n_kv_head",
        "max_position_embeddings": "n_positions",
        "intermediate_size": "n_inner",
    }

    def __init__(
        self,
        vocab_size: int = 50257,
        n_positions: int = 1024,
        n_embd: int = 768,
        n_layer: int = 12,
        n_head: int = 12,
        n_kv_head: int | None = None,
        head_dim: int | None = None,
        n_inner: int | None = None,
        activation_function: str = "gelu_new",
        layer_norm_position: str = "pre",
        final_layer_norm: bool = True,
        position_embedding: str = "learned",
        rope_theta: float = 10000.0,
        norm_type: str = "layernorm",
        feed_forward: str = "mlp",
        bias: bool = True,
        embd_pdrop: float = 0.1,
        resid_pdrop: float = 0.1,
        attn_pdrop: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        scale_attn_weights: bool = True,
        lm_loss_coef: float = 0.5,
        summary_first_dropout: float = 0.1,
        bos_token_id: int | None = 50256,
        eos_token_id: int | None = 50256,
        pad_token_id: int | None = None,
        tie_word_embeddings: bool = True,
        use_cache: bool = True,
        **kwargs,
    ):
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            _positive_int(name, locals()[name])
        n_kv_head = n_head if n_kv_head is None else n_kv_head
        _positive_int("n_kv_head", n_kv_head)
        if n_head % n_kv_head:
            raise ValueError(f"GPTConfig.n_head ({n_head}) must be a multiple of n_kv_head ({n_kv_head}): each key/value "
                             "head serves the same number of query heads")
        if head_dim is None:
            if n_embd % n_head:
                raise ValueError(f"GPTConfig.n_embd ({n_embd}) must be divisible by n_head ({n_head}), or head_dim "
                                 "given")
            head_dim = n_embd // n_head
        _positive_int("head_dim", head_dim)
        n_inner = 4 * n_embd if n_inner is None else n_inner
        _positive_int("n_inner", n_inner)
        _one_of("activation_function", activation_function, ACTIVATIONS)
        _one_of("layer_norm_position", layer_norm_position, LAYER_NORM_POSITIONS)
        _one_of("position_embedding", position_embedding, POSITION_EMBEDDINGS)
        _one_of("norm_type", norm_type, NORM_TYPES)
        _one_of("feed_forward", feed_forward, FEED_FORWARDS)
        if position_embedding == "rotary" and head_dim % 2:
            raise ValueError(f"GPTConfig.head_dim ({head_dim}) must be even for rotary positions (rotations of pairs)")
        for name, value in (("embd_pdrop", embd_pdrop), ("resid_pdrop", resid_pdrop), ("attn_pdrop", attn_pdrop),
                            ("summary_first_dropout", summary_first_dropout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
                raise ValueError(f"GPTConfig.{name} must be in [0, 1), got {value!r}")
        for name, value in (("bos_token_id", bos_token_id), ("eos_token_id", eos_token_id),
                            ("pad_token_id", pad_token_id)):
            ids = value if isinstance(value, (list, tuple)) else [value]
            for token in ids:
                if token is not None and (not isinstance(token, int) or isinstance(token, bool)
                                          or not 0 <= token < vocab_size):
                    raise ValueError(f"GPTConfig.{name} ({value!r}) must be a token id in [0, vocab_size={vocab_size})")

        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_kv_head = n_kv_head
        self.head_dim = head_dim
        self.n_inner = n_inner
        self.activation_function = activation_function
        self.layer_norm_position = layer_norm_position
        self.final_layer_norm = bool(final_layer_norm)
        self.position_embedding = position_embedding
        self.rope_theta = float(rope_theta)
        self.norm_type = norm_type
        self.feed_forward = feed_forward
        self.bias = bool(bias)
        self.embd_pdrop = float(embd_pdrop)
        self.resid_pdrop = float(resid_pdrop)
        self.attn_pdrop = float(attn_pdrop)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)
        self.scale_attn_weights = bool(scale_attn_weights)
        self.lm_loss_coef = float(lm_loss_coef)
        self.summary_first_dropout = float(summary_first_dropout)
        self.use_cache = use_cache
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)

    # ------------------------------------------------------------------------------------------------------------------
    # Each generation's settings
    # ------------------------------------------------------------------------------------------------------------------
    @classmethod
    def gpt1(cls, **kwargs) -> "GPTConfig":
        """GPT-1: post-LN blocks, no final LayerNorm, learned positions over 512 tokens, a 40,478-token BPE."""
        settings = {"vocab_size": 40478, "n_positions": 512, "layer_norm_position": "post", "final_layer_norm": False,
                    "bos_token_id": None, "eos_token_id": None}
        return cls(**{**settings, **kwargs})

    @classmethod
    def gpt2(cls, **kwargs) -> "GPTConfig":
        """GPT-2: pre-LN blocks and a final LayerNorm, 1024 learned positions, the 50,257-token byte-level BPE."""
        return cls(**kwargs)

    @classmethod
    def llama(cls, **kwargs) -> "GPTConfig":
        """The Llama decoder: pre-RMSNorm, rotary positions, a SwiGLU network, no biases, an untied output layer."""
        settings = {"vocab_size": 32000, "n_positions": 2048, "n_embd": 4096, "n_layer": 32, "n_head": 32,
                    "n_inner": 11008, "activation_function": "silu", "position_embedding": "rotary",
                    "norm_type": "rmsnorm", "feed_forward": "swiglu", "bias": False, "embd_pdrop": 0.0,
                    "resid_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-6, "tie_word_embeddings": False,
                    "bos_token_id": 1, "eos_token_id": 2}
        return cls(**{**settings, **kwargs})

    # ------------------------------------------------------------------------------------------------------------------
    # transformers' configs
    # ------------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_transformers(cls, config, **kwargs) -> "GPTConfig":
        """The GPTConfig of a transformers OpenAIGPTConfig, GPT2Config or LlamaConfig (or its config.json as a dict,
        whose missing fields take that class's defaults)."""
        import transformers

        if isinstance(config, dict):
            model_type = config.get("model_type")
            classes = {"openai-gpt": transformers.OpenAIGPTConfig, "gpt2": transformers.GPT2Config,
                       "llama": transformers.LlamaConfig}
            if model_type not in classes:
                raise ValueError(f"GPTConfig reads config.json files of model_type {TRANSFORMERS_MODEL_TYPES}, "
                                 f"got {model_type!r}")
            config = classes[model_type](**{k: v for k, v in config.items() if k != "model_type"})
        source = config.to_dict()
        common = {k: source[k] for k in ("pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings",
                                         "initializer_range", "torch_dtype", "dtype", "id2label", "label2id",
                                         "problem_type", "finetuning_task") if k in source}
        model_type = config.model_type
        if model_type == "openai-gpt":
            fields = {"vocab_size": config.vocab_size, "n_positions": config.n_positions, "n_embd": config.n_embd,
                      "n_layer": config.n_layer, "n_head": config.n_head, "activation_function": {
                          "gelu": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu"}[config.afn],
                      "layer_norm_position": "post", "final_layer_norm": False, "embd_pdrop": config.embd_pdrop,
                      "resid_pdrop": config.resid_pdrop, "attn_pdrop": config.attn_pdrop,
                      "layer_norm_epsilon": config.layer_norm_epsilon,
                      "summary_first_dropout": config.summary_first_dropout}
            common.setdefault("bos_token_id", None)
            common.setdefault("eos_token_id", None)
        elif model_type == "gpt2":
            if getattr(config, "scale_attn_by_inverse_layer_idx", False) or getattr(
                    config, "reorder_and_upcast_attn", False) or getattr(config, "add_cross_attention", False):
                raise ValueError("GPTConfig: a GPT-2 config with scale_attn_by_inverse_layer_idx, "
                                 "reorder_and_upcast_attn or add_cross_attention is not GPT-2's architecture")
            fields = {"vocab_size": config.vocab_size, "n_positions": config.n_positions, "n_embd": config.n_embd,
                      "n_layer": config.n_layer, "n_head": config.n_head, "n_inner": config.n_inner,
                      "activation_function": config.activation_function, "embd_pdrop": config.embd_pdrop,
                      "resid_pdrop": config.resid_pdrop, "attn_pdrop": config.attn_pdrop,
                      "layer_norm_epsilon": config.layer_norm_epsilon, "scale_attn_weights": config.scale_attn_weights,
                      "summary_first_dropout": getattr(config, "summary_first_dropout", 0.1)}
        elif model_type == "llama":
            rope = source.get("rope_parameters") or source.get("rope_scaling") or {}
            rope_type = rope.get("rope_type", rope.get("type", "default"))
            if rope_type != "default":
                raise ValueError(f"GPTConfig: Llama's rotary scaling {rope_type!r} is not supported (only plain "
                                 "rotary positions)")
            if getattr(config, "mlp_bias", False) != getattr(config, "attention_bias", False):
                raise ValueError("GPTConfig: a Llama config with attention_bias != mlp_bias is not supported")
            theta = rope.get("rope_theta", source.get("rope_theta", 10000.0))
            fields = {"vocab_size": config.vocab_size, "n_positions": config.max_position_embeddings,
                      "n_embd": config.hidden_size, "n_layer": config.num_hidden_layers,
                      "n_head": config.num_attention_heads, "n_kv_head": config.num_key_value_heads,
                      "head_dim": getattr(config, "head_dim", None), "n_inner": config.intermediate_size,
                      "activation_function": config.hidden_act, "position_embedding": "rotary", "rope_theta": theta,
                      "norm_type": "rmsnorm", "feed_forward": "swiglu", "bias": bool(config.attention_bias),
                      "embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": float(config.attention_dropout),
                      "layer_norm_epsilon": config.rms_norm_eps}
        else:
            raise ValueError(f"GPTConfig reads transformers configs of model_type {TRANSFORMERS_MODEL_TYPES}, got "
                             f"{model_type!r}")
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):  # transformers only warns about these
            value = common.get(name)
            ids = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(i, int) and not 0 <= i < fields["vocab_size"] for i in ids):
                logger.warning(f"{name}={value!r} lies outside the vocabulary ({fields['vocab_size']} tokens): "
                               "dropped")
                common[name] = None
        common.pop("torch_dtype", None)
        dtype = common.pop("dtype", None)
        config_fields = {**fields, **common, **kwargs}
        if dtype is not None:
            config_fields.setdefault("dtype", dtype)
        return cls(**config_fields)

    def to_transformers(self):
        """This config as transformers' OpenAIGPTConfig, GPT2Config or LlamaConfig: the one of the same
        architecture (`checkpoint_format`)."""
        import transformers

        fmt = self.checkpoint_format()
        ids = {"bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id, "pad_token_id": self.pad_token_id,
               "id2label": self.id2label, "label2id": self.label2id, "problem_type": self.problem_type}
        if fmt == "openai-gpt":
            return transformers.OpenAIGPTConfig(
                vocab_size=self.vocab_size, n_positions=self.n_positions, n_embd=self.n_embd, n_layer=self.n_layer,
                n_head=self.n_head, afn={"gelu_new": "gelu", "relu": "relu", "silu": "silu"}[self.activation_function],
                resid_pdrop=self.resid_pdrop, embd_pdrop=self.embd_pdrop, attn_pdrop=self.attn_pdrop,
                layer_norm_epsilon=self.layer_norm_epsilon, initializer_range=self.initializer_range,
                summary_first_dropout=self.summary_first_dropout, **ids)
        if fmt == "gpt2":
            return transformers.GPT2Config(
                vocab_size=self.vocab_size, n_positions=self.n_positions, n_embd=self.n_embd, n_layer=self.n_layer,
                n_head=self.n_head, n_inner=self.n_inner, activation_function=self.activation_function,
                resid_pdrop=self.resid_pdrop, embd_pdrop=self.embd_pdrop, attn_pdrop=self.attn_pdrop,
                layer_norm_epsilon=self.layer_norm_epsilon, initializer_range=self.initializer_range,
                scale_attn_weights=self.scale_attn_weights, summary_first_dropout=self.summary_first_dropout, **ids)
        return transformers.LlamaConfig(
            vocab_size=self.vocab_size, hidden_size=self.n_embd, intermediate_size=self.n_inner,
            num_hidden_layers=self.n_layer, num_attention_heads=self.n_head, num_key_value_heads=self.n_kv_head,
            head_dim=self.head_dim, hidden_act=self.activation_function, max_position_embeddings=self.n_positions,
            initializer_range=self.initializer_range, rms_norm_eps=self.layer_norm_epsilon,
            tie_word_embeddings=self.tie_word_embeddings, attention_bias=self.bias, mlp_bias=self.bias,
            attention_dropout=self.attn_pdrop, rope_theta=self.rope_theta,
            **({"rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta}}
               if "rope_parameters" in transformers.LlamaConfig().to_dict() else {}), **ids)

    def checkpoint_format(self) -> str:
        """Which transformers architecture this config is: "openai-gpt", "gpt2" or "llama" (a ValueError for the
        settings none of them has, such as GPT-2 with rotary positions)."""
        head_dim = self.n_embd // self.n_head if self.n_embd % self.n_head == 0 else -1
        gpt = {"position_embedding": "learned", "norm_type": "layernorm", "feed_forward": "mlp", "bias": True,
               "n_kv_head": self.n_head, "head_dim": head_dim}
        if self.layer_norm_position == "post" and not self.final_layer_norm and \
                self.n_inner == 4 * self.n_embd and self._matches(gpt):
            return "openai-gpt"
        if self.layer_norm_position == "pre" and self.final_layer_norm and self._matches(gpt):
            return "gpt2"
        llama = {"position_embedding": "rotary", "norm_type": "rmsnorm", "feed_forward": "swiglu",
                 "layer_norm_position": "pre", "final_layer_norm": True, "scale_attn_weights": True}
        if self._matches(llama):
            return "llama"
        raise ValueError("GPTConfig: these settings (position_embedding, norm_type, feed_forward, layer_norm_position, "
                         "final_layer_norm, ...) are none of transformers' openai-gpt, gpt2 or llama architectures")

    def _matches(self, fields: dict) -> bool:
        return all(getattr(self, k) == v for k, v in fields.items())

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """A config.json of transformers' "openai-gpt", "gpt2" or "llama" model_type is read as that architecture."""
        model_type = config_dict.get("model_type")
        if model_type not in (None, cls.model_type, *TRANSFORMERS_MODEL_TYPES):
            raise ValueError(f"a config.json of model_type {model_type!r} is not a GPT: GPTConfig reads "
                             f"{(cls.model_type, *TRANSFORMERS_MODEL_TYPES)}")
        if model_type in TRANSFORMERS_MODEL_TYPES:
            return_unused = kwargs.pop("return_unused_kwargs", False)
            config = cls.from_transformers(config_dict)
            for key in [k for k in kwargs if hasattr(config, k)]:
                setattr(config, key, kwargs.pop(key))
            return (config, kwargs) if return_unused else config
        return super().from_dict(config_dict, **kwargs)


__all__ = ["GPTConfig"]
