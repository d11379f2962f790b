"""Neural-network building blocks: `Module`, layers (dense, convolution, pooling, batch
norm, embedding, layer norm, attention and the transformer block, recurrent layers), losses,
initializers and models (the book's TwoLayerNet, SimpleConvNet, DeepConvNet; MLP; GPT), the
hand-over of weights to and from PyTorch, and training tools (`nn.utils`: gradient clipping;
`nn.summary`).

>>> from minigrad import nn
>>> net = nn.TwoLayerNet(784, 50, 10)
>>> [name for name, _ in net.named_parameters()]
['W1', 'b1', 'W2', 'b2']
"""

from minigrad.core import Parameter
from minigrad.nn import (
    conv,
    convnets,
    dot_attention,
    embedding,
    gpt,
    init,
    layers,
    losses,
    models,
    module,
    normalization,
    recurrent,
    transformer,
    utils,
)
from minigrad.nn.conv import *  # noqa: F403
from minigrad.nn.convnets import *  # noqa: F403
from minigrad.nn.dot_attention import *  # noqa: F403
from minigrad.nn.embedding import *  # noqa: F403
from minigrad.nn.gpt import *  # noqa: F403
from minigrad.nn.layers import *  # noqa: F403
from minigrad.nn.losses import *  # noqa: F403
from minigrad.nn.models import *  # noqa: F403
from minigrad.nn.module import *  # noqa: F403
from minigrad.nn.normalization import *  # noqa: F403
from minigrad.nn.recurrent import *  # noqa: F403
from minigrad.nn.torch_state import load_torch_state_dict, to_torch_state_dict
from minigrad.nn.transformer import *  # noqa: F403
from minigrad.nn.utils import summary

__all__ = [
    *module.__all__,
    "Parameter",
    *layers.__all__,
    *conv.__all__,
    *embedding.__all__,
    *normalization.__all__,
    *dot_attention.__all__,
    *transformer.__all__,
    *gpt.__all__,
    *losses.__all__,
    *models.__all__,
    *convnets.__all__,
    *recurrent.__all__,
    "to_torch_state_dict",
    "load_torch_state_dict",
    "init",
    "utils",
    "summary",
]
