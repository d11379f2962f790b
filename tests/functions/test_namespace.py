"""What `F` (minigrad.functions) holds: the op functions of every family, and no Function
class, so that nothing in `F` shares a name with a module of `minigrad.nn`."""

import inspect

import minigrad as mg
from minigrad import F, nn
from minigrad.functions import FAMILIES


def test_F_is_the_union_of_the_families_all():
    names = [n for fam in FAMILIES for n in fam.__all__]
    assert F.__all__ == names
    assert len(set(names)) == len(names)
    for fam in FAMILIES:
        for n in fam.__all__:
            assert getattr(F, n) is getattr(fam, n)


def test_F_exports_functions_only():
    for n in F.__all__:
        obj = getattr(F, n)
        assert inspect.isfunction(obj), n
    public = [n for n in dir(F) if not n.startswith("_")]
    classes = [n for n in public if inspect.isclass(getattr(F, n))]
    assert classes == []


def test_no_name_is_both_an_op_class_in_F_and_a_module_in_nn():
    for n in ("SoftmaxCrossEntropy", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout"):
        assert not hasattr(F, n)
        assert issubclass(getattr(nn, n), nn.Module)


def test_function_classes_stay_in_their_family_modules():
    from minigrad.functions.activations import ReLU
    from minigrad.functions.linalg import Linear
    from minigrad.functions.losses import SoftmaxCrossEntropy

    for cls in (ReLU, Linear, SoftmaxCrossEntropy):
        assert issubclass(cls, mg.Function)
    assert ReLU.name == "relu" and Linear.name == "linear"


def test_every_builtin_op_declares_its_backward_rule_beside_its_backward():
    for fam in FAMILIES:
        for name, cls in vars(fam).items():
            if (
                inspect.isclass(cls)
                and issubclass(cls, mg.Function)
                and cls.__module__ == fam.__name__
                and "backward" in vars(cls)
            ):
                assert isinstance(cls.rule, str) and "g" in cls.rule, name
