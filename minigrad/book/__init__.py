"""The book's face of minigrad: *Deep Learning from Scratch*'s `common` package and
`dataset.mnist`, on the engine.

The modules mirror the book's names, so a script's imports change by a prefix
(`from common.trainer import Trainer` -> `from minigrad.book.trainer import Trainer`,
`from dataset.mnist import load_mnist` -> `from minigrad.book.mnist import load_mnist`), or
not at all: `python -m minigrad.book SCRIPT [ARGS...]` runs a script of the book's
repository unchanged, its `common.*` and `dataset.mnist` imports served from here.

- `layers`: the book's layer protocol (`forward`, `backward(dout)` on arrays), each backward
  computed by the engine over the layer's own graph; `functions`, `gradient`, `util`: the
  book's helpers on arrays;
- `optimizer` (`SGD(lr).update(params, grads)`, ...), `trainer` (`Trainer`);
- `multi_layer_net`, `multi_layer_net_extend`: engine-native networks with the book's
  signatures;
- `mnist`: the book's `load_mnist` on minigrad's loader.

The book's conventions hold throughout: float64 unless `dtype=` says otherwise, weights,
batches and dropout masks drawn from NumPy's global generator in the book's order (a seeded
run prints the book's numbers), non-inverted dropout, batch norm's momentum 0.9.
"""

from minigrad.book.multi_layer_net import MultiLayerNet
from minigrad.book.multi_layer_net_extend import MultiLayerNetExtend
from minigrad.book.runner import run_script
from minigrad.book.trainer import Trainer
from minigrad.nn.convnets import DeepConvNet, SimpleConvNet
from minigrad.nn.models import TwoLayerNet

__all__ = [
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Trainer",
    "TwoLayerNet",
    "SimpleConvNet",
    "DeepConvNet",
    "run_script",
]
