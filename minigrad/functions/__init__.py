"""The primitive ops, imported as `F` (`from minigrad import functions as F`).

`F` holds the op functions (`F.tanh`, `F.linear`, ...): the `__all__` of the family modules
below, one module per family. Each op's `Function` subclass sits in its family module right
above its function (`minigrad.functions.elementwise.Tanh`); they are not exported here, so
that `F` never mixes them up with the modules of `minigrad.nn` (`nn.ReLU`, `nn.Linear`).

Importing this package also gives `Variable` its operators (`+ - * / ** @`, unary `-`, `[]`)
and method forms (`x.sum()`, `x.reshape(2, 3)`, `x.T`, ...).
"""

from minigrad.functions import (
    activations,
    arithmetic,
    attention,
    conv,
    elementwise,
    linalg,
    losses,
    normalization,
    recurrent,
    reductions,
    shape,
)
from minigrad.functions._methods import attach as _attach
from minigrad.functions.activations import *  # noqa: F403
from minigrad.functions.arithmetic import *  # noqa: F403
from minigrad.functions.attention import *  # noqa: F403
from minigrad.functions.conv import *  # noqa: F403
from minigrad.functions.elementwise import *  # noqa: F403
from minigrad.functions.linalg import *  # noqa: F403
from minigrad.functions.losses import *  # noqa: F403
from minigrad.functions.normalization import *  # noqa: F403
from minigrad.functions.recurrent import *  # noqa: F403
from minigrad.functions.reductions import *  # noqa: F403
from minigrad.functions.shape import *  # noqa: F403

FAMILIES = (
    arithmetic,
    elementwise,
    activations,
    reductions,
    shape,
    linalg,
    losses,
    conv,
    normalization,
    recurrent,
    attention,
)

__all__ = [name for family in FAMILIES for name in family.__all__]

_attach()
