"""Grad modes (`no_grad`, `enable_grad`), `detect_anomaly` and dtypes (docs/architecture.md, "The engine")."""

import inspect
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import F, Variable

# --------------------------------------------------------------------------- no_grad


def test_no_grad_records_nothing():
    x = Variable(np.array([1.0, 2.0]))
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = F.exp(x * 2.0).sum()
    assert mg.is_grad_enabled()
    assert y.creator is None and y.requires_grad is False
    np.testing.assert_allclose(y.data, np.exp([2.0, 4.0]).sum())
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_as_a_decorator():
    @mg.no_grad()
    def predict(v):
        assert not mg.is_grad_enabled()
        return v * 3.0

    x = Variable(np.array([1.0]))
    y = predict(x)
    assert y.creator is None and not y.requires_grad
    assert mg.is_grad_enabled()
    # The same decorated function may be called again (and recursively).
    assert predict(x).creator is None


def test_enable_grad_inside_no_grad():
    x = Variable(np.array([1.0, 2.0]))
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            y = x * x
        z = x * x
        assert not mg.is_grad_enabled()
    assert y.creator is not None and y.requires_grad
    assert z.creator is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_enable_grad_as_a_decorator_inside_no_grad():
    @mg.enable_grad()
    def f(v):
        return v * 2.0

    x = Variable(np.array([1.0]))
    with mg.no_grad():
        y = f(x)
    assert y.creator is not None


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ValueError, match="stop"), mg.no_grad():
        raise ValueError("stop")
    assert mg.is_grad_enabled()


def test_nested_no_grad():
    with mg.no_grad():
        with mg.no_grad():
            pass
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


# --------------------------------------------------------------------------- detect_anomaly


def _raised(fn):
    try:
        fn()
    except FloatingPointError as e:
        return str(e)
    pytest.fail("detect_anomaly raised nothing")


def test_anomaly_in_forward_names_the_op_and_where_it_was_called():
    x = Variable(np.array([1.0, -1.0]))

    def run():
        with np.errstate(invalid="ignore"), mg.detect_anomaly():
            F.log(x)

    msg = _raised(run)
    line = inspect.getsourcelines(run)[1] + 2
    assert "log" in msg and "NaN" in msg and "forward" in msg
    assert os.path.basename(__file__) in msg
    assert f"line {line}" in msg


def test_anomaly_in_backward_names_the_op_and_where_it_was_called():
    x = Variable(np.array([0.0, 4.0]))

    def run():
        with np.errstate(divide="ignore"), mg.detect_anomaly():
            y = F.sqrt(x)
            y.sum().backward()

    msg = _raised(run)
    line = inspect.getsourcelines(run)[1] + 2
    assert "sqrt" in msg and "inf" in msg and "backward" in msg
    assert os.path.basename(__file__) in msg
    assert f"line {line}" in msg


def test_no_anomaly_error_outside_detect_anomaly():
    x = Variable(np.array([0.0, -1.0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = F.log(x)
        assert np.isneginf(y.data[0]) and np.isnan(y.data[1])
        F.sqrt(Variable(np.array([0.0]))).sum().backward()
        with mg.detect_anomaly():
            pass
        F.log(x)


def test_detect_anomaly_is_restored_after_it_raised():
    x = Variable(np.array([-1.0]))
    with np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError), mg.detect_anomaly():
            F.log(x)
        assert np.isnan(F.log(x).data[0])


def test_detect_anomaly_passes_finite_values_through():
    x = Variable(np.array([1.0, 4.0]))
    with mg.detect_anomaly():
        y = F.sqrt(x).sum()
        y.backward()
    np.testing.assert_allclose(x.grad.data, [0.5, 0.25])


# --------------------------------------------------------------------------- dtypes


def test_float32_stays_float32_with_python_scalars():
    x = Variable(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    y = (2.0 * x + 1 - x / 3.0) ** 2 - 0.5
    z = (F.exp(-y) * 1.5 + F.tanh(x) @ np.ones(3, dtype=np.float32)).mean()
    assert y.dtype == np.float32 and z.dtype == np.float32
    z.backward()
    assert x.grad.dtype == np.float32


def test_float32_stays_float32_with_numpy_scalars():
    # NumPy scalars act like Python numbers: under NumPy 2's promotion rules an np.float64
    # scalar would otherwise upcast a float32 array.
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = x * np.float64(2.0) + np.sqrt(2.0)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_float32_seed_grad_of_another_dtype_is_cast():
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = x * 3.0
    y.backward(np.array([1.0, 2.0], dtype=np.float64))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [3.0, 6.0])


def test_float64_stays_float64():
    x = Variable(np.array([1.0, 2.0]))
    y = (x * 2.0 + 1).sum()
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64


def test_integer_data_flows_but_needs_no_grad():
    i = Variable(np.array([1, 2, 3]))
    assert not i.requires_grad
    x = Variable(np.array([0.5, 0.5, 0.5]))
    with pytest.warns(UserWarning, match="cannot hold a gradient"):
        y = (x * i).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0, 3.0])
    assert i.grad is None


def test_no_grad_and_enable_grad_work_as_bare_decorators():
    x = Variable(np.ones(2))

    @mg.no_grad
    def twice(v):
        return v * 2.0

    @mg.enable_grad
    def thrice(v):
        return v * 3.0

    y = twice(x)
    assert y.creator is None and not y.requires_grad
    with mg.no_grad():
        z = thrice(x)
    assert z.creator is not None and z.requires_grad
    np.testing.assert_array_equal(z.data, [3.0, 3.0])


def test_anomaly_error_is_also_a_runtime_error():
    x = Variable(np.array([-1.0]))
    with (
        np.errstate(invalid="ignore"),
        pytest.raises(RuntimeError, match="log") as info,
        mg.detect_anomaly(),
    ):
        F.log(x)
    assert isinstance(info.value, mg.AnomalyError)
    assert isinstance(info.value, FloatingPointError)


# --------------------------------------------------------------------------- threads


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    import threading

    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        with mg.no_grad():
            inside.set()
            done.wait(5)
            seen["other"] = mg.is_grad_enabled()

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(5)
    # The other thread sits inside no_grad: this one still records.
    assert mg.is_grad_enabled()
    x = Variable(np.array([1.0, 2.0]))
    y = (x * x).sum()
    assert y.creator is not None
    done.set()
    t.join()
    assert seen["other"] is False
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_overlapping_blocks_in_two_threads_leave_each_mode_as_it_was():
    import threading

    # Thread A enters no_grad, then B enters enable_grad inside its own no_grad; they leave
    # in the opposite order from a shared decorated function: each thread ends as it began.
    barrier = threading.Barrier(2, timeout=5)
    results = {}

    @mg.no_grad()
    def blocked(name):
        barrier.wait()
        results[name + "_inside"] = mg.is_grad_enabled()
        barrier.wait()

    def run(name, start_enabled):
        ctx = mg.enable_grad() if start_enabled else mg.no_grad()
        with ctx:
            blocked(name)
            results[name + "_after"] = mg.is_grad_enabled()

    a = threading.Thread(target=run, args=("a", True))
    b = threading.Thread(target=run, args=("b", False))
    a.start()
    b.start()
    a.join()
    b.join()
    assert results == {"a_inside": False, "b_inside": False, "a_after": True, "b_after": False}
    assert mg.is_grad_enabled()


def test_a_backward_in_one_thread_does_not_stop_recording_in_another():
    import threading

    # A user Function's backward waits while the main thread records: the backward's switch
    # of grad mode (off, no create_graph) must stay in its own thread.
    started = threading.Event()
    release = threading.Event()

    class Slow(mg.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            started.set()
            release.wait(5)
            return gy * 2.0

    x = Variable(np.ones(3))
    y = Slow()(x).sum()
    t = threading.Thread(target=y.backward)
    t.start()
    assert started.wait(5)
    z = (x * 3.0).sum()  # recorded here while the other thread is inside backward
    release.set()
    t.join()
    assert z.creator is not None
    z.backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0, 5.0])


def test_two_threads_training_two_models_get_exact_gradients():
    import threading

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((32, 5)) for _ in range(2)]
    ts = [rng.integers(0, 3, 32) for _ in range(2)]

    def make(i):
        # Built before the threads start: NumPy's global generator, which TwoLayerNet draws
        # from, is one for the whole process, so seeding it inside the threads would race.
        np.random.seed(i)  # noqa: NPY002 - TwoLayerNet draws from the global generator
        return mg.nn.TwoLayerNet(5, 7, 3, dtype=np.float64)

    def train(i, net, out):
        opt = mg.optim.SGD(net.parameters(), lr=0.1)
        grads = []
        for _ in range(200):
            loss = net.loss(xs[i], ts[i])
            opt.zero_grad()
            loss.backward()
            grads.append(net.W1.grad.data.copy())
            opt.step()
        out[i] = (grads, net.W1.data.copy())

    threaded: dict[int, object] = {}
    nets = [make(i) for i in range(2)]
    threads = [threading.Thread(target=train, args=(i, nets[i], threaded)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone: dict[int, object] = {}
    for i in range(2):
        train(i, make(i), alone)
    for i in range(2):
        for g, h in zip(threaded[i][0], alone[i][0]):
            np.testing.assert_array_equal(g, h)
        np.testing.assert_array_equal(threaded[i][1], alone[i][1])
