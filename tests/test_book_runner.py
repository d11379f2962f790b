"""`python -m minigrad.book SCRIPT`: scripts in the book's style and layout run unchanged.

The book's files cannot be fetched in CI, so these tests write stand-ins of their own in the
book's style (its imports: `sys.path.append(os.pardir)`, `from common.layers import *`,
`from dataset.mnist import load_mnist`, a chapter-local network file) into a temporary folder
laid out like the book's repository, with decoy `common/` and `dataset/` packages in the
parent that fail if imported (the book's own would be found there). What the scripts print
is checked against the same computation written here in NumPy. MNIST is a small random
stand-in (minigrad.book.mnist's source patched) for the in-process runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigrad.book.mnist as book_mnist
from minigrad.book.runner import run_script

ROOT = Path(__file__).resolve().parents[1]

DECOY = "raise ImportError('the book\\'s own {name} was imported instead of minigrad.book')\n"

TWO_LAYER_NET = """\
import sys, os
sys.path.append(os.pardir)
import numpy as np
from collections import OrderedDict
from common.layers import *
from common.gradient import numerical_gradient


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)
        self.layers = OrderedDict()
        self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        f = lambda W: self.loss(x, t)
        return {k: numerical_gradient(f, self.params[k]) for k in ('W1', 'b1', 'W2', 'b2')}

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {'W1': self.layers['Affine1'].dW, 'b1': self.layers['Affine1'].db,
                'W2': self.layers['Affine2'].dW, 'b2': self.layers['Affine2'].db}
"""

GRADIENT_CHECK = """\
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from two_layer_net import TwoLayerNet

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
network = TwoLayerNet(input_size=784, hidden_size=6, output_size=10)
grad_numerical = network.numerical_gradient(x_train[:3], t_train[:3])
grad_backprop = network.gradient(x_train[:3], t_train[:3])
for key in grad_numerical.keys():
    print(key + ":" + str(np.average(np.abs(grad_backprop[key] - grad_numerical[key]))))
"""

TRAIN = """\
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from two_layer_net import TwoLayerNet

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
network = TwoLayerNet(input_size=784, hidden_size=10, output_size=10)
iters = int(sys.argv[1])
for i in range(iters):
    batch_mask = np.random.choice(x_train.shape[0], 8)
    grad = network.gradient(x_train[batch_mask], t_train[batch_mask])
    for key in ('W1', 'b1', 'W2', 'b2'):
        network.params[key] -= 0.1 * grad[key]
    print(network.loss(x_train[batch_mask], t_train[batch_mask]))
print(network.accuracy(x_train, t_train), network.accuracy(x_test, t_test))
"""

EXTEND = """\
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
network = MultiLayerNetExtend(input_size=784, hidden_size_list=[8, 8], output_size=10,
                              use_dropout=True, dropout_ration=0.2, use_batchnorm=True)
trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=2, mini_batch_size=10,
                  optimizer='Adam', optimizer_param={'lr': 0.01}, verbose=True)
trainer.train()
"""


def fake_raw(n_train: int = 40, n_test: int = 12):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_train + n_test, 784), dtype=np.uint8)
    t = rng.integers(0, 10, n_train + n_test)
    return (x[:n_train], t[:n_train]), (x[n_train:], t[n_train:])


@pytest.fixture
def book_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out like the book's repository, with decoy common/ and dataset/."""
    for pkg, mods in [("common", ["layers", "trainer"]), ("dataset", ["mnist"])]:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        for m in mods:
            (tmp_path / pkg / f"{m}.py").write_text(DECOY.format(name=f"{pkg}.{m}"))
    for ch, files in [
        ("ch05", {"two_layer_net.py": TWO_LAYER_NET, "gradient_check.py": GRADIENT_CHECK,
                  "train_neuralnet.py": TRAIN}),
        ("ch06", {"extend.py": EXTEND}),
    ]:  # fmt: skip
        (tmp_path / ch).mkdir()
        for name, text in files.items():
            (tmp_path / ch / name).write_text(text)
    raw = fake_raw()
    monkeypatch.setattr(book_mnist, "_load", lambda **kw: raw)
    return tmp_path


def images():
    (x, t), (xt, tt) = fake_raw()
    return (x.astype(np.float32) / np.float32(255.0), np.eye(10)[t]), (
        xt.astype(np.float32) / np.float32(255.0),
        np.eye(10)[tt],
    )


def numpy_two_layer(w1, w2, x, t):
    """Loss (the book's, log(y + 1e-7)) and gradients of the two-layer net, by hand."""
    x = x.astype(np.float64)
    h = x @ w1[0] + w1[1]
    a = np.maximum(h, 0)
    z = a @ w2[0] + w2[1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.sum(np.log(y[np.arange(n), t.argmax(axis=1)] + 1e-7)) / n
    dz = (y - t) / n
    da = dz @ w2[0].T
    dh = da * (h > 0)
    return loss, (x.T @ dh, dh.sum(axis=0), a.T @ dz, dz.sum(axis=0))


def test_gradient_check_runs_on_the_served_modules(book_repo, capsys):
    np.random.seed(0)  # noqa: NPY002 - the scripts draw from the global generator
    g = run_script(book_repo / "ch05" / "gradient_check.py")
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["W1", "b1", "W2", "b2"]
    # The served modules, not the decoys; the chapter's own network file; all undone after.
    assert "common" not in sys.modules and "two_layer_net" not in sys.modules
    assert type(g["network"]).__module__ == "two_layer_net"
    assert type(g["network"].layers["Affine1"]).__module__ == "minigrad.book.layers"
    # Independent: the backprop gradients by hand; the printed differences are the same.
    net = g["network"]
    (x, t), _ = images()
    _, grads = numpy_two_layer(
        (net.params["W1"], net.params["b1"]), (net.params["W2"], net.params["b2"]), x[:3], t[:3]
    )
    num = net.numerical_gradient(x[:3], t[:3])
    for line, key, gk in zip(lines, ["W1", "b1", "W2", "b2"], grads, strict=True):
        printed = float(line.split(":")[1])
        want = np.average(np.abs(gk - num[key]))
        assert printed == pytest.approx(want, rel=1e-6, abs=1e-15), line
        assert printed < 1e-6  # b2's is about 1e-7, from the book's log(y + 1e-7)


def test_training_prints_the_losses_of_the_same_computation_in_numpy(book_repo, capsys):
    np.random.seed(3)  # noqa: NPY002
    run_script(book_repo / "ch05" / "train_neuralnet.py", ["5"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    # The same run by hand: weights, batches from the same generator in the same order.
    np.random.seed(3)  # noqa: NPY002
    w1 = [0.01 * np.random.randn(784, 10), np.zeros(10)]  # noqa: NPY002
    w2 = [0.01 * np.random.randn(10, 10), np.zeros(10)]  # noqa: NPY002
    (x, t), (xt, tt) = images()
    for line in lines[:5]:
        mask = np.random.choice(len(x), 8)  # noqa: NPY002
        _, g = numpy_two_layer(w1, w2, x[mask], t[mask])
        for p, d in zip([*w1, *w2], g, strict=True):
            p -= 0.1 * d
        loss, _ = numpy_two_layer(w1, w2, x[mask], t[mask])
        assert float(line) == pytest.approx(loss, rel=1e-9)
    acc = [float(v) for v in lines[5].split()]
    for (xs, ts), a in zip([(x, t), (xt, tt)], acc, strict=True):
        h = np.maximum(xs.astype(np.float64) @ w1[0] + w1[1], 0) @ w2[0] + w2[1]
        assert a == np.mean(h.argmax(axis=1) == ts.argmax(axis=1))


def test_a_trainer_script_with_dropout_and_batch_norm(book_repo, capsys):
    np.random.seed(0)  # noqa: NPY002
    g = run_script(book_repo / "ch06" / "extend.py")
    out = capsys.readouterr().out.splitlines()
    trainer = g["trainer"]
    assert trainer.max_iter == 8 and len(trainer.train_loss_list) == 8
    losses = [float(ln.split(":")[1]) for ln in out if ln.startswith("train loss:")]
    assert losses == [float(v) for v in trainer.train_loss_list]
    assert out[-1] == "test acc:" + str(g["network"].accuracy(g["x_test"], g["t_test"]))
    assert type(g["network"]).__module__ == "minigrad.book.multi_layer_net_extend"


def test_an_unserved_book_module_is_refused_clearly(book_repo):
    script = book_repo / "ch06" / "np_script.py"
    script.write_text("import sys, os\nsys.path.append(os.pardir)\nimport common.np\n")
    with pytest.raises(
        ModuleNotFoundError, match=r"minigrad.book serves the book's .*not common.np"
    ):
        run_script(script)
    assert "common" not in sys.modules and "common.layers" not in sys.modules


def test_the_command_line_in_a_fresh_process(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text(DECOY.format(name="common"))
    ch = tmp_path / "ch05"
    ch.mkdir()
    (ch / "layer_local.py").write_text("SCALE = 3.0\n")  # a chapter-local module
    (ch / "script.py").write_text(
        textwrap.dedent(
            """\
            import sys, os
            sys.path.append(os.pardir)
            import numpy as np
            from common.functions import softmax, cross_entropy_error
            from common.layers import Affine
            from layer_local import SCALE
            print(os.path.basename(os.getcwd()), sys.argv[1:])
            x = np.random.rand(2, 3)
            layer = Affine(np.ones((3, 2)) * SCALE, np.zeros(2))
            y = layer.forward(x)
            print(repr(float(y.sum())), repr(float(x.sum() * 2 * SCALE)))
            print(cross_entropy_error(softmax(np.array([[0.0, 0.0]])), np.array([1])))
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "minigrad.book", "--seed", "4", str(ch / "script.py"), "a", "b"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "ch05 ['a', 'b']"
    got, want = (float(v) for v in lines[1].split())
    assert got == pytest.approx(want, rel=1e-14)
    np.random.seed(4)  # noqa: NPY002
    assert want == pytest.approx(np.random.rand(2, 3).sum() * 6, rel=1e-14)  # noqa: NPY002
    assert float(lines[2]) == pytest.approx(-np.log(0.5 + 1e-7), rel=1e-14)
    bad = subprocess.run(
        [sys.executable, "-m", "minigrad.book", "--seed", "x", "s.py"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "--seed needs a non-negative integer, got 'x'" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "minigrad.book", "nope.py"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "minigrad.book: no script 'nope.py'" in missing.stderr


def test_a_star_import_gives_what_the_books_would(book_repo, capsys):
    # The book's modules have no __all__: `from common.optimizer import *` brings their np,
    # and the book's optimizer_compare_mnist.py relies on it.
    script = book_repo / "ch06" / "star.py"
    script.write_text(
        "import sys, os\nsys.path.append(os.pardir)\nfrom common.optimizer import *\n"
        "from common.layers import *\n"
        "print(np.__name__, SGD.__module__, Affine.__module__, softmax.__module__,"
        " im2col.__module__)\n"
    )
    run_script(script)
    assert capsys.readouterr().out.split() == [
        "numpy", "minigrad.book.optimizer", "minigrad.book.layers", "minigrad.book.functions",
        "minigrad.book.util",
    ]  # fmt: skip
