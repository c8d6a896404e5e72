"""The Transformer (Vaswani et al. 2017): self-attention, the encoder-decoder and cross-attention; loads MarianMT."""

from . import modeling_transformer
from .configuration_transformer import TransformerConfig
from .modeling_transformer import *  # noqa: F403 -- modeling_transformer.__all__: every head of HEADS, its parts

__all__ = ["TransformerConfig"]
__all__ += modeling_transformer.__all__
