"""Optimizers (thesis §3.2.2) and weight decay (the λ‖θ‖² of eq. 3.6):
hand-computed steps, agreement with torch.optim in float64, gradient
clipping, and checkpointed state that resumes bit for bit."""
import numpy as np
import pytest

from nnscratch import Tensor, io
from nnscratch.layers import Parameter
from nnscratch.optim import SGD, Adam, RMSprop, clip_grad_norm

torch = pytest.importorskip("torch")


def params_of(*arrays, dtype=np.float64):
    return [Parameter(np.array(a, dtype)) for a in arrays]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else np.array(g, p.dtype)


# -- hand-computed steps ---------------------------------------------------------

def test_sgd_step_by_hand_with_weight_decay():
    (p,) = params_of([1.0, -2.0])
    set_grads([p], [[0.5, 0.5]])
    SGD([p], lr=0.1, weight_decay=0.1).step()  # g + 0.1 θ = [0.6, 0.3]
    np.testing.assert_allclose(p.data, [0.94, -2.03], rtol=1e-14)


def test_sgd_momentum_by_hand():
    (p,) = params_of([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    set_grads([p], [[2.0]])
    opt.step()  # v = 2, θ = 1 - 0.2
    set_grads([p], [[1.0]])
    opt.step()  # v = 0.9·2 + 1 = 2.8, θ = 0.8 - 0.28
    np.testing.assert_allclose(p.data, [0.52], rtol=1e-14)
    np.testing.assert_allclose(opt.slots[0]["velocity"], [2.8], rtol=1e-14)


def test_adam_steps_by_hand():
    (p,) = params_of([1.0, -2.0])
    opt = Adam([p], lr=0.01)
    set_grads([p], [[0.5, -4.0]])
    opt.step()  # m̂ = g, v̂ = g²: a step of lr·g/(|g| + ε) ≈ lr·sign(g)
    np.testing.assert_allclose(p.data, [1 - 0.01 * 0.5 / (0.5 + 1e-8), -2 + 0.01 * 4 / (4 + 1e-8)],
                               rtol=1e-14)
    set_grads([p], [[1.0, 0.0]])
    opt.step()
    m = 0.9 * 0.1 * 0.5 + 0.1 * 1.0
    v = 0.999 * 0.001 * 0.25 + 0.001 * 1.0
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    expected = 1 - 0.01 * 0.5 / (0.5 + 1e-8) - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p.data[0], expected, rtol=1e-14)


def test_rmsprop_step_by_hand():
    (p,) = params_of([1.0, -2.0])
    set_grads([p], [[0.5, -4.0]])
    RMSprop([p], lr=0.01, alpha=0.99).step()  # s = 0.01 g², step = lr g / (0.1|g| + ε)
    np.testing.assert_allclose(p.data, [1 - 0.005 / (0.05 + 1e-8), -2 + 0.04 / (0.4 + 1e-8)],
                               rtol=1e-14)


def test_weight_decay_is_the_gradient_of_lambda_theta_squared():
    """weight_decay·θ is ∂(λ‖θ‖²)/∂θ with λ = weight_decay / 2 (eq. 3.6)."""
    weight_decay, theta = 0.3, np.array([1.5, -0.5, 2.0])
    (decayed,) = params_of(theta)
    decayed.grad = np.zeros(3)
    SGD([decayed], lr=0.1, weight_decay=weight_decay).step()
    (explicit,) = params_of(theta)
    penalty = (weight_decay / 2) * (explicit * explicit).sum()
    penalty.backward()
    SGD([explicit], lr=0.1).step()
    np.testing.assert_allclose(decayed.data, explicit.data, rtol=1e-14)


def test_parameters_without_grad_are_left_alone():
    a, b = params_of([1.0], [2.0])
    opt = Adam([a, b], lr=0.1)
    set_grads([a, b], [[1.0], None])
    opt.step()
    assert b.data[0] == 2.0 and opt.counts == [1, 0] and opt.slots[1] == {}


# -- against torch.optim, several steps, float64 -------------------------------------

SHAPES = [(3, 4), (4,), (2, 2, 3)]

CASES = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum_decay": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "adam": (Adam, torch.optim.Adam, dict(lr=0.01)),
    "adam_decay": (Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                                 weight_decay=0.1)),
    "rmsprop": (RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    "rmsprop_decay": (RMSprop, torch.optim.RMSprop, dict(lr=0.005, alpha=0.9, weight_decay=0.05)),
}


def gradient(theta, step, index):
    """A deterministic gradient that depends on θ and on the step, as in training."""
    noise = np.random.default_rng(100 * step + index).standard_normal(theta.shape)
    return np.sin(theta) + noise


@pytest.mark.parametrize("ours, theirs, settings", CASES.values(), ids=CASES.keys())
def test_agrees_with_torch_optim(ours, theirs, settings):
    rng = np.random.default_rng(0)
    initial = [rng.standard_normal(s) for s in SHAPES]
    params = params_of(*initial)
    torch_params = [torch.tensor(a, requires_grad=True) for a in initial]
    opt, torch_opt = ours(params, **settings), theirs(torch_params, **settings)
    for step in range(5):
        for i, (p, q) in enumerate(zip(params, torch_params)):
            no_grad = step == 0 and i == 2  # a parameter that joins late
            p.grad = None if no_grad else gradient(p.data, step, i)
            q.grad = None if no_grad else torch.tensor(gradient(q.detach().numpy(), step, i))
        if step == 3:
            opt.lr = torch_opt.param_groups[0]["lr"] = settings["lr"] / 2  # a schedule
        opt.step()
        torch_opt.step()
        for i, (p, q) in enumerate(zip(params, torch_params)):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"parameter {i} after step {step}")


# -- gradient clipping ---------------------------------------------------------------

def test_clip_grad_norm_scales_to_max_norm_and_returns_the_old_norm():
    a, b, c = params_of([1.0, 1.0], [[1.0]], [0.0])
    set_grads([a, b, c], [[3.0, 0.0], [[4.0]], None])
    assert clip_grad_norm([a, b, c], max_norm=1.0) == pytest.approx(5.0, rel=1e-15)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [[0.8]], rtol=1e-15)
    assert c.grad is None


def test_clip_grad_norm_leaves_small_gradients_alone():
    a, b = params_of([1.0], [1.0])
    set_grads([a, b], [[0.3], [0.4]])
    assert clip_grad_norm([a, b], max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, [0.3])
    assert clip_grad_norm([], max_norm=1.0) == 0.0


def test_clip_grad_norm_does_not_scale_a_shared_gradient_twice():
    a, b = params_of([1.0], [1.0])
    x = Tensor(np.array([0.0]))
    (a + b + x).backward(np.array([2.0]))  # add's backward may give both the same array
    assert clip_grad_norm([a, b], max_norm=np.sqrt(2)) == pytest.approx(np.sqrt(8))
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [1.0, 1.0], rtol=1e-15)


def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(s) for s in SHAPES]
    params = params_of(*[np.zeros(s) for s in SHAPES])
    set_grads(params, grads)
    torch_params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for q, g in zip(torch_params, grads):
        q.grad = torch.tensor(g)
    norm = clip_grad_norm(params, 0.5)
    torch_norm = torch.nn.utils.clip_grad_norm_(torch_params, 0.5)
    assert norm == pytest.approx(torch_norm.item(), rel=1e-12)
    for p, q in zip(params, torch_params):  # torch divides by norm + 1e-6
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-5)


# -- checkpointing -------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                                  lambda ps: Adam(ps, lr=0.01, weight_decay=1e-3),
                                  lambda ps: RMSprop(ps, lr=0.01)],
                         ids=["sgd", "adam", "rmsprop"])
def test_state_dict_through_hdf5_resumes_bit_for_bit(make, tmp_path):
    rng = np.random.default_rng(2)
    params = params_of(*[rng.standard_normal(s) for s in SHAPES], dtype=np.float32)
    opt = make(params)

    def train(opt, params, steps):
        for step in steps:
            set_grads(params, [gradient(p.data, step, i) for i, p in enumerate(params)])
            opt.step()

    train(opt, params, range(3))
    io.save(tmp_path / "run.h5", {**{f"model/{i}": p.data for i, p in enumerate(params)},
                                  **{f"optim/{k}": v for k, v in opt.state_dict().items()}})
    saved = io.load(tmp_path / "run.h5")
    resumed_params = params_of(*[saved[f"model/{i}"] for i in range(3)], dtype=np.float32)
    resumed = make(resumed_params)
    resumed.load_state_dict({k[len("optim/"):]: v for k, v in saved.items() if k.startswith("optim/")})
    assert resumed.steps == 3 and resumed.counts == opt.counts
    train(opt, params, range(3, 6))
    train(resumed, resumed_params, range(3, 6))
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_errors_name_the_key():
    params = params_of(np.zeros((2, 3)), np.zeros(4))
    opt = Adam(params)
    good = {"steps": np.asarray(1), "counts": np.asarray([1, 1])}
    with pytest.raises(ValueError, match=r"'0/m' has shape \(3, 2\), parameter 0 has shape \(2, 3\)"):
        opt.load_state_dict({**good, "0/m": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"'1/velocity' names no slot"):
        opt.load_state_dict({**good, "1/velocity": np.zeros(4)})
    with pytest.raises(ValueError, match=r"'5/m' names no slot"):
        opt.load_state_dict({**good, "5/m": np.zeros(4)})
    with pytest.raises(ValueError, match=r"'steps' is missing.*'counts' has shape \(3,\)"):
        opt.load_state_dict({"counts": np.asarray([1, 1, 1])})
    assert opt.steps == 0 and opt.slots == [{}, {}]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD(params_of([1.0]), lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam(params_of([1.0]), betas=(0.9, 1.0))


def test_slots_live_on_the_parameters_device(xp):
    p = Parameter(xp.ones(3, dtype=xp.float32))
    p.grad = xp.full(3, 0.5, dtype=xp.float32)
    opt = Adam([p], lr=0.1)
    opt.step()
    assert all(isinstance(s, xp.ndarray) and s.dtype == xp.float32 for s in opt.slots[0].values())
    assert p.data.dtype == xp.float32 and isinstance(p.data, xp.ndarray)
    assert float(p.data[0]) == pytest.approx(0.9, rel=1e-6)
