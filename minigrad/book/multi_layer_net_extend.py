"""The book's `MultiLayerNetExtend` (`common.multi_layer_net_extend`), engine-native: the
fully connected network of `minigrad.book.multi_layer_net` with the book's dropout and batch
normalization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.book.multi_layer_net import _MultiLayer

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(_MultiLayer):
    """`MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
    use_batchnorm=False, dtype=np.float64)`.

    Per hidden layer: Affine, then `BatchNorm{i}` (the book's: momentum 0.9, parameters
    gamma{i}, beta{i}) if `use_batchnorm`, the activation, then `Dropout{i}` (the book's, not
    inverted) if `use_dropout`. `predict(x, train_flg=False)` and `loss(x, t,
    train_flg=False)` take the book's flag; `gradient` runs in training mode. Otherwise as
    `MultiLayerNet`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: Any = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self._build(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            dtype,
            use_dropout,
            dropout_ration,
            use_batchnorm,
        )
