"""Leaving minigrad: a model to ONNX and back.

    import minigrad.onnx
    minigrad.onnx.export(net, x_test[:2], "net.onnx")   # any batch size in the file
    loaded = minigrad.onnx.load("net.onnx")             # a Module, trainable again

`export` runs a model once and writes the graph it recorded as a standard ONNX model (opset
17 by default, 13 or newer on request), which ONNX Runtime, model viewers and other
frameworks read; `load` turns such a file back into a minigrad Module. The op mapping, one
small function per op, is in `minigrad.onnx.exporters` and `minigrad.onnx.importers`; your
own Functions export once you give them an exporter with `register_exporter`.

Needs the `onnx` package (and `onnxruntime` to run the files): `pip install "minigrad[onnx]"`.
`import minigrad` does not import this package, and this package imports `onnx` only when
`export` or `load` runs.
"""

from minigrad.onnx._builder import UnsupportedOpError
from minigrad.onnx.export import DEFAULT_OPSET, MIN_OPSET, export
from minigrad.onnx.exporters import register_exporter
from minigrad.onnx.load import OnnxModule, load

__all__ = [
    "export",
    "load",
    "register_exporter",
    "OnnxModule",
    "UnsupportedOpError",
    "DEFAULT_OPSET",
    "MIN_OPSET",
]
