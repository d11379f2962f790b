"""PyTorch state dicts: a module's weights under PyTorch's names and layouts, and back.

`to_torch_state_dict(module)` gives what `torch_model.state_dict()` holds for the equivalent
PyTorch model (as NumPy arrays: `torch.from_numpy` takes them); `load_torch_state_dict(module,
state_dict)` copies such a dict into a minigrad module. minigrad never imports torch: values
may be ndarrays or anything with `.numpy()` (tensors).

Each layer with a PyTorch counterpart says how its arrays map, in `TORCH_LAYOUTS`: `Linear`
(and `Affine`) holds W as (in, out) where PyTorch's `nn.Linear.weight` is (out, in), so it is
transposed both ways; `Conv2d` (and the book's `Convolution`) holds W as (OC, C, KH, KW), as
`nn.Conv2d.weight` does; `ConvTranspose2d` has PyTorch's names and layout (weight (C_in,
C_out, KH, KW), bias); `BatchNorm1d`/`BatchNorm2d` map gamma and beta to `weight` and
`bias`, their running statistics (buffers) to `running_mean` and `running_var`, and add
PyTorch's `num_batches_tracked` (0: minigrad does not count batches; ignored on load);
`LayerNorm`'s `weight` and `bias` map as they are, and so do `MultiheadAttention`'s
`in_proj_weight` and `in_proj_bias` (its `out_proj` is a Linear). `TransformerBlock` is made
of these (its docstring gives the equivalent PyTorch modules). Names
follow the module tree as PyTorch's do: `fc1.weight`, `layers.Affine1.bias`, and `0.weight`
for the first layer of a `Sequential` (whose children minigrad names by index, as
`nn.Sequential` does). The recurrent layers and cells (`RNN`, `LSTM`, `GRU`, `RNNCell`,
`LSTMCell`, `GRUCell`) keep PyTorch's own names, shapes and gate orders (`weight_ih_l0`
(4H, C) for an LSTM), so their arrays map as they are. Layers without parameters (activations, pooling, Dropout, Flatten,
losses) have nothing to map.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.core import Parameter, Variable, increment_version
from minigrad.nn.conv import Conv2d, Convolution, ConvTranspose2d
from minigrad.nn.embedding import Embedding
from minigrad.nn.layers import Linear
from minigrad.nn.module import IncompatibleKeys, Module, compare_keys
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNormalization, LayerNorm
from minigrad.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from minigrad.nn.transformer import MultiheadAttention

__all__ = ["to_torch_state_dict", "load_torch_state_dict", "TORCH_LAYOUTS", "TorchSlot"]


@dataclass
class TorchSlot:
    """One entry of a PyTorch layer's state dict: its name in the layer (`weight`), the
    minigrad array it comes from (written in place on load), and the conversion between the
    two layouts (`to_torch(array)`; its inverse `from_torch`). `param` is the Parameter it
    covers, if any (every Parameter of a module must be covered by some slot); a buffer's slot
    has none."""

    name: str
    array: np.ndarray
    to_torch: Callable[[np.ndarray], np.ndarray]
    from_torch: Callable[[np.ndarray], np.ndarray]
    param: Parameter | None = None
    #: An entry PyTorch has and minigrad does not keep (`num_batches_tracked`): written by
    #: `to_torch_state_dict`, its shape checked and its value dropped on load.
    ignored_on_load: bool = False


#: Layer class -> the slots of one of its instances, in PyTorch's order. A subclass uses its
#: nearest registered base class (`Affine` uses `Linear`'s).
TORCH_LAYOUTS: dict[type[Module], Callable[[Any], list[TorchSlot]]] = {}


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _transposed(a: np.ndarray) -> np.ndarray:
    return a.T


def _linear_slots(m: Linear) -> list[TorchSlot]:
    # nn.Linear keeps weight as (out, in) and computes x @ weight.T + bias.
    slots = [TorchSlot("weight", m.W.data, _transposed, _transposed, m.W)]
    if m.b is not None:
        slots.append(TorchSlot("bias", m.b.data, _same, _same, m.b))
    return slots


TORCH_LAYOUTS[Linear] = _linear_slots


def _conv_slots(m: Conv2d | Convolution) -> list[TorchSlot]:
    # nn.Conv2d keeps weight as (out_channels, in_channels, KH, KW), as minigrad does.
    slots = [TorchSlot("weight", m.W.data, _same, _same, m.W)]
    if m.b is not None:
        slots.append(TorchSlot("bias", m.b.data, _same, _same, m.b))
    return slots


TORCH_LAYOUTS[Conv2d] = _conv_slots
#: The book's layer is nn.Conv2d(C, FN, (FH, FW), stride, pad) with its W and b.
TORCH_LAYOUTS[Convolution] = _conv_slots


def _as_is(*names: str) -> Callable[[Any], list[TorchSlot]]:
    """The layout of a layer whose parameters `names` already have PyTorch's names and
    layouts (one that is None, like a layer's absent bias, is left out)."""

    def slots(m: Module) -> list[TorchSlot]:
        return [
            TorchSlot(name, p.data, _same, _same, p)
            for name in names
            if (p := getattr(m, name)) is not None
        ]

    return slots


# PyTorch's names and layout already: weight (C_in, C_out, KH, KW), bias (C_out,).
TORCH_LAYOUTS[ConvTranspose2d] = _as_is("weight", "bias")


def _batch_norm_slots(m: BatchNorm1d | BatchNorm2d | BatchNormalization) -> list[TorchSlot]:
    return [
        TorchSlot("weight", m.gamma.data, _same, _same, m.gamma),
        TorchSlot("bias", m.beta.data, _same, _same, m.beta),
        TorchSlot("running_mean", m.running_mean, _same, _same),
        TorchSlot("running_var", m.running_var, _same, _same),
        # PyTorch counts the training batches (for momentum=None); minigrad does not.
        TorchSlot(
            "num_batches_tracked", np.zeros((), np.int64), _same, _same, ignored_on_load=True
        ),
    ]


TORCH_LAYOUTS[BatchNorm1d] = TORCH_LAYOUTS[BatchNorm2d] = _batch_norm_slots
#: The book's layer normalizes each element of the flattened row: in evaluation mode,
#: nn.BatchNorm1d(D, eps=1e-6) on x.flatten(1) (its running variance is the biased one and
#: follows the book's momentum when training; the values map as they are).
TORCH_LAYOUTS[BatchNormalization] = _batch_norm_slots


def _own_names_slots(m: Module) -> list[TorchSlot]:
    # The recurrent layers name and lay out their parameters as PyTorch does.
    return [
        TorchSlot(name, p.data, _same, _same, p)
        for name, p in m._members()
        if isinstance(p, Parameter)
    ]


for _cls in (RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell):
    TORCH_LAYOUTS[_cls] = _own_names_slots


# nn.Embedding keeps weight as (num_embeddings, embedding_dim), as minigrad does.
TORCH_LAYOUTS[Embedding] = _as_is("weight")
# nn.LayerNorm's weight and bias have minigrad's names and layout.
TORCH_LAYOUTS[LayerNorm] = _as_is("weight", "bias")
# nn.MultiheadAttention's packed in_proj_weight (3E, E) and in_proj_bias, held as they
# are; out_proj is a Linear, mapped as one (out_proj.weight, out_proj.bias).
TORCH_LAYOUTS[MultiheadAttention] = _as_is("in_proj_weight", "in_proj_bias")


def _layout(m: Module) -> Callable[[Any], list[TorchSlot]] | None:
    for cls in type(m).__mro__:
        if cls in TORCH_LAYOUTS:
            return TORCH_LAYOUTS[cls]
    return None


def _slots(module: Module, who: str) -> OrderedDict[str, TorchSlot]:
    """Every slot of the tree keyed by its PyTorch name; a ValueError if a Parameter belongs
    to no layer with a PyTorch counterpart."""
    if not isinstance(module, Module):
        raise TypeError(f"{who}: expected a Module, got {type(module).__name__}")
    slots: OrderedDict[str, TorchSlot] = OrderedDict()
    covered: set[int] = set()
    for path, m in module.named_modules():
        layout = _layout(m)
        if layout is None:
            continue
        for slot in layout(m):
            slots[f"{path}.{slot.name}" if path else slot.name] = slot
            if slot.param is not None:
                covered.add(id(slot.param))
    orphans = [name for name, p in module.named_parameters() if id(p) not in covered]
    if orphans:
        owners = _owners(module, orphans)
        raise ValueError(
            f"{who}: {', '.join(owners)} ha{'s' if len(owners) == 1 else 've'} no PyTorch "
            f"counterpart (parameters {orphans}); layers that map: "
            + ", ".join(sorted(cls.__name__ for cls in TORCH_LAYOUTS))
        )
    return slots


def _owners(module: Module, names: list[str]) -> list[str]:
    """`module 'blk' (MyLayer)` for the modules that hold the named parameters directly."""
    out: dict[str, None] = {}
    for path, m in module.named_modules():
        own = {f"{path}.{k}" if path else k for k, v in m._members() if isinstance(v, Parameter)}
        for name in names:
            if name in own:
                where = f"module '{path}'" if path else "the module"
                out.setdefault(f"{where} ({type(m).__name__})")
    return list(out) or ["a module"]


def to_torch_state_dict(module: Module) -> OrderedDict[str, np.ndarray]:
    """The module's weights as PyTorch's `state_dict()` of the equivalent model holds them:
    PyTorch's names (`0.weight`, `fc1.bias`) -> NumPy arrays in PyTorch's layouts (a Linear's
    weight as (out, in)), contiguous copies. `torch_model.load_state_dict({k:
    torch.from_numpy(v) for k, v in sd.items()})` loads them.

    A Parameter in a layer with no PyTorch counterpart raises a ValueError naming the layer.
    """
    slots = _slots(module, "to_torch_state_dict")
    return OrderedDict(
        # np.array copies in C order and keeps a 0-d array 0-d (ascontiguousarray would not).
        (name, np.array(s.to_torch(s.array), order="C"))
        for name, s in slots.items()
    )


def load_torch_state_dict(
    module: Module, state_dict: Mapping[str, Any], strict: bool = True
) -> IncompatibleKeys:
    """Copy a PyTorch state dict into `module`, in place: the reverse of
    `to_torch_state_dict`. Values are ndarrays or anything with `.numpy()` (a PyTorch
    tensor; `.detach()` and `.cpu()` are called first when present), cast to the module's
    dtypes.

    Everything is checked before anything is copied: with `strict`, missing and unexpected
    keys are errors; a shape that does not fit (after the layout change) is always one, as
    is a Parameter in a layer with no PyTorch counterpart. On error (a ValueError naming the
    keys and shapes) the module is unchanged. Returns the keys skipped (empty when strict).
    """
    who = "load_torch_state_dict"
    slots = _slots(module, who)
    missing, unexpected, problems = compare_keys(slots, state_dict, strict, who)
    writes = []
    for name, slot in slots.items():
        if name not in state_dict:
            continue
        value = _as_array(state_dict[name], name, who)
        want = slot.to_torch(slot.array).shape
        if value.shape != want:
            problems.append(f"{name!r} has shape {value.shape}, expected {want}")
            continue
        if not slot.ignored_on_load:
            writes.append((slot, slot.from_torch(value).astype(slot.array.dtype, copy=False)))
    if problems:
        raise ValueError(
            f"{who}: {type(module).__name__}: " + "; ".join(problems) + " (nothing was loaded)"
        )
    for slot, value in writes:
        np.copyto(slot.array, value)
        if slot.param is not None:
            increment_version(slot.param)
    return IncompatibleKeys(missing, unexpected)


def _as_array(value: Any, name: str, who: str) -> np.ndarray:
    """An ndarray from an ndarray, a Variable or a tensor-like (`.numpy()`), without torch."""
    if isinstance(value, Variable):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):
        for step in ("detach", "cpu"):
            if hasattr(value, step):
                value = getattr(value, step)()
        return np.asarray(value.numpy())
    raise TypeError(
        f"{who}: {name!r} is a {type(value).__name__}; expected an ndarray or a tensor with "
        ".numpy()"
    )
