"""T5 configuration (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer").

The field names are those of transformers' T5 configs (d_model, d_kv, d_ff, num_layers, num_heads, ...), so a
config.json of model_type "t5" (t5-small ... t5-11b, T5 v1.1, flan-t5) is read by `T5Config` as it is, and a saved
hf_models T5 is read by transformers' `T5Config`. Only the model_type differs ("hf_t5": it must not collide with
transformers' own "t5" in the Auto registries).
"""

from typing import ClassVar

from transformers import PretrainedConfig
from transformers.activations import ACT2FN

# transformers' model_type whose config.json (and checkpoints: the same module names) this config reads
TRANSFORMERS_MODEL_TYPE = "t5"
# fields of transformers' T5Config that follow from others (feed_forward_proj) or belong to a stack, not the model
_DERIVED_FIELDS = ("dense_act_fn", "is_gated_act", "is_decoder")


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"T5Config.{name} must be a positive integer, got {value!r}")


def feed_forward_activation(feed_forward_proj) -> tuple[str, bool]:
    """"relu" -> ("relu", False): W_o act(W_i x); "gated-gelu" -> ("gelu_new", True): W_o (act(W_i0 x) * W_i1 x).

    The form is transformers' ("ACT" or "gated-ACT", ACT one of transformers.activations.ACT2FN); "gated-gelu" means
    the tanh approximation of GELU, as in T5 v1.1's Mesh TensorFlow code (and transformers' for backward
    compatibility)."""
    parts = feed_forward_proj.split("-") if isinstance(feed_forward_proj, str) else []
    gated = len(parts) == 2 and parts[0] == "gated"
    if not (len(parts) == 1 or gated) or parts[-1] not in ACT2FN:
        raise ValueError(f"T5Config.feed_forward_proj must be 'ACT' or 'gated-ACT' with ACT an activation of "
                         f"transformers.activations.ACT2FN (T5: 'relu'; T5 v1.1 and flan-t5: 'gated-gelu'), got "
                         f"{feed_forward_proj!r}")
    activation = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]
    return activation, gated


class T5Config(PretrainedConfig):
    r"""Configuration of hf_models' T5 encoder-decoder.

    Defaults are t5-small's (6 + 6 layers, d_model 512, 8 heads of d_kv 64, d_ff 2048, 32 relative-position buckets
    up to a distance of 128, the 32,128-token SentencePiece vocabulary shared by encoder, decoder and output layer).

    Args:
        vocab_size: the SentencePiece vocabulary (one for the input, the target and the output layer).
        d_model: the width of the residual stream and the embeddings.
        d_kv: the width of each attention head's queries, keys and values. T5 does not require d_model = num_heads *
            d_kv (t5-3b and t5-11b have 32 and 128 heads of 128 over d_model 1024): the output projection maps the
            num_heads * d_kv concatenation back to d_model.
        d_ff: the inner width of the feed-forward network.
        num_layers: encoder layers. num_decoder_layers: decoder layers (default num_layers).
        num_heads: attention heads of every attention sub-layer.
        relative_attention_num_buckets: the buckets relative distances are sorted into (section 2.1 of the paper): half
            for each direction in the encoder, exact for short distances and logarithmically wider up to
            `relative_attention_max_distance`, beyond which all distances share the last bucket.
        dropout_rate: on the embeddings, every sub-layer output, the attention probabilities, inside the
            feed-forward network and after each stack's final norm.
        layer_norm_epsilon: epsilon of every RMS norm.
        initializer_factor: scales every initial weight (1.0; transformers' tests use other values).
        feed_forward_proj: "relu" (T5 v1.0: ReLU(x W_i) W_o) or "gated-gelu" (T5 v1.1, flan-t5: GEGLU, Shazeer 2020,
            (GELU(x W_i0) * x W_i1) W_o); any "ACT" or "gated-ACT" of transformers' activations.
        tie_word_embeddings: the output layer is the token embedding matrix (T5 v1.0: yes; v1.1: no).
        scale_decoder_outputs: multiply the decoder's output by d_model^-0.5 before the output layer (default:
            `tie_word_embeddings`). T5 v1.0 does, because its output layer is the embedding matrix, initialised at a
            scale (N(0, 1)) meant for the input side; v1.1's separate output layer does not need it. transformers 5.x
            saves it explicitly (its T5 always ties the output layer unless the checkpoint holds a different one).
        classifier_dropout: kept for transformers' T5 classification heads' configs (unused here).
        sparse_prediction: in training with labels, compute the decoder only up to each row's last label and the
            output layer only on the labelled positions (not the padding the loss ignores). Same loss and gradients,
            less compute; `logits` then holds one row per labelled token. Evaluation and inference always return
            logits for every position. (hf_models only: transformers' T5 ignores it.)
        decoder_start_token_id: the token the decoder reads first (T5: the padding token, 0).
    """

    model_type = "hf_t5"
    is_encoder_decoder = True
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["past_key_values", "cache"]
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model",
        "num_attention_heads": "num_heads",
        "num_hidden_layers": "num_decoder_layers",  # the layers a decoding cache has
        "head_dim": "d_kv",
    }

    def __init__(
        self,
        vocab_size: int = 32128,
        d_model: int = 512,
        d_kv: int = 64,
        d_ff: int = 2048,
        num_layers: int = 6,
        num_decoder_layers: int | None = None,
        num_heads: int = 8,
        relative_attention_num_buckets: int = 32,
        relative_attention_max_distance: int = 128,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        initializer_factor: float = 1.0,
        feed_forward_proj: str = "relu",
        tie_word_embeddings: bool = True,
        scale_decoder_outputs: bool | None = None,
        classifier_dropout: float = 0.0,
        sparse_prediction: bool = True,
        use_cache: bool = True,
        pad_token_id: int | None = 0,
        eos_token_id: int | None = 1,
        decoder_start_token_id: int | None = None,
        **kwargs,
    ):
        kwargs.pop("is_encoder_decoder", None)
        for name in _DERIVED_FIELDS:  # recomputed from feed_forward_proj; is_decoder is each stack's own
            kwargs.pop(name, None)
        if num_decoder_layers is None:
            num_decoder_layers = num_layers
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("d_kv", d_kv), ("d_ff", d_ff),
                            ("num_layers", num_layers), ("num_decoder_layers", num_decoder_layers),
                            ("num_heads", num_heads), ("relative_attention_num_buckets", relative_attention_num_buckets),
                            ("relative_attention_max_distance", relative_attention_max_distance)):
            _positive_int(name, value)
        if relative_attention_num_buckets < 4:
            raise ValueError(f"T5Config.relative_attention_num_buckets must be at least 4 (the encoder gives half to "
                             f"each direction, and each half needs an exact bucket and a logarithmic one), got "
                             f"{relative_attention_num_buckets}")
        if relative_attention_max_distance <= relative_attention_num_buckets // 2:
            raise ValueError(f"T5Config.relative_attention_max_distance ({relative_attention_max_distance}) must exceed "
                             f"relative_attention_num_buckets // 2 ({relative_attention_num_buckets // 2}): the exact "
                             "buckets cover the distances below that, the logarithmic ones the distances up to it")
        dense_act_fn, is_gated_act = feed_forward_activation(feed_forward_proj)
        for name, value in (("dropout_rate", dropout_rate), ("classifier_dropout", classifier_dropout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
                raise ValueError(f"T5Config.{name} must be in [0, 1), got {value!r}")
        if not isinstance(layer_norm_epsilon, (int, float)) or not float(layer_norm_epsilon) > 0.0:
            raise ValueError(f"T5Config.layer_norm_epsilon must be a positive number, got {layer_norm_epsilon!r}")
        if decoder_start_token_id is None:
            decoder_start_token_id = pad_token_id  # T5 starts the decoder from the padding token
        for name, value in (("pad_token_id", pad_token_id), ("eos_token_id", eos_token_id),
                            ("decoder_start_token_id", decoder_start_token_id)):
            for token in value if isinstance(value, (list, tuple)) else [value]:
                if token is not None and (not isinstance(token, int) or isinstance(token, bool)
                                          or not 0 <= token < vocab_size):
                    raise ValueError(f"T5Config.{name} ({value!r}) must be a token id in [0, vocab_size={vocab_size})")

        self.vocab_size = vocab_size
        self.d_model = d_model
        self.d_kv = d_kv
        self.d_ff = d_ff
        self.num_layers = num_layers
        self.num_decoder_layers = num_decoder_layers
        self.num_heads = num_heads
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance
        self.dropout_rate = float(dropout_rate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_factor = float(initializer_factor)
        self.feed_forward_proj = feed_forward_proj
        self.dense_act_fn = dense_act_fn  # what transformers' T5Config derives too (saved, read back by both)
        self.is_gated_act = is_gated_act
        self.scale_decoder_outputs = bool(tie_word_embeddings if scale_decoder_outputs is None else
                                          scale_decoder_outputs)
        self.classifier_dropout = float(classifier_dropout)
        self.sparse_prediction = bool(sparse_prediction)
        self.use_cache = use_cache
        super().__init__(
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
            decoder_start_token_id=decoder_start_token_id,
            tie_word_embeddings=tie_word_embeddings,
            is_encoder_decoder=True,
            **kwargs,
        )

    # ------------------------------------------------------------------------------------------------------------------
    # transformers' T5 configs
    # ------------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_transformers(cls, config, **kwargs) -> "T5Config":
        """The T5Config of a transformers `T5Config` (or its config.json as a dict: the same field names, missing ones
        take the defaults, which are transformers' too)."""
        fields = dict(config) if isinstance(config, dict) else config.to_dict()
        model_type = fields.pop("model_type", TRANSFORMERS_MODEL_TYPE)
        if model_type not in (TRANSFORMERS_MODEL_TYPE, cls.model_type):
            raise ValueError(f"T5Config reads config.json files of model_type {TRANSFORMERS_MODEL_TYPE!r} or "
                             f"{cls.model_type!r}, got {model_type!r}")
        for key in ("architectures", "auto_map", "transformers_version"):
            fields.pop(key, None)
        return cls(**{**fields, **kwargs})

    def to_transformers(self):
        """This config as transformers' `T5Config` (the same architecture and checkpoint format)."""
        import transformers

        fields = {k: v for k, v in self.to_dict().items()
                  if k not in ("model_type", "architectures", "auto_map", "transformers_version", "sparse_prediction",
                               *_DERIVED_FIELDS)}
        scale = fields.pop("scale_decoder_outputs")
        config = transformers.T5Config(**fields)
        config.scale_decoder_outputs = scale  # its __init__ derives it from tie_word_embeddings, as ours defaults to
        return config

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """Read a config.json; one of transformers' T5 (model_type "t5") is read as ours: the same fields."""
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") == TRANSFORMERS_MODEL_TYPE:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs


__all__ = ["T5Config"]
