"""Neural-network building blocks: `Module`, layers, losses, initializers and models.

>>> from minigrad import nn
>>> net = nn.TwoLayerNet(784, 50, 10)
>>> [name for name, _ in net.named_parameters()]
['W1', 'b1', 'W2', 'b2']
"""

from minigrad.core import Parameter
from minigrad.nn import init
from minigrad.nn.conv import AvgPool2d, Conv2d, Convolution, MaxPool2d, Pooling
from minigrad.nn.convnets import DeepConvNet, SimpleConvNet
from minigrad.nn.layers import (
    Affine,
    Dropout,
    Flatten,
    Linear,
    ReLU,
    Relu,
    Sequential,
    Sigmoid,
    Tanh,
)
from minigrad.nn.losses import MSELoss, SoftmaxCrossEntropy, SoftmaxWithLoss
from minigrad.nn.models import MLP, TwoLayerNet
from minigrad.nn.module import IncompatibleKeys, Module
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNormalization

__all__ = [
    "Module",
    "Parameter",
    "IncompatibleKeys",
    "Linear",
    "Affine",
    "ReLU",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Dropout",
    "Flatten",
    "Sequential",
    "SoftmaxWithLoss",
    "SoftmaxCrossEntropy",
    "MSELoss",
    "TwoLayerNet",
    "MLP",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Convolution",
    "Pooling",
    "BatchNormalization",
    "SimpleConvNet",
    "DeepConvNet",
    "init",
]
