"""Every op has a gradient check: a new op without one fails here.

Each ``tests/test_ops_*.py`` declares ``GRADCHECK_CASES`` (op name -> cases);
this file runs them all, checks that their union covers ``functional.__all__``
and that every Function class in ``nnscratch.functions`` is reached by a case.
"""
import importlib.util
import inspect
import pathlib
import pkgutil

import numpy as np
import pytest

import nnscratch.functional as F
import nnscratch.functions
from nnscratch import Function, Tensor
from nnscratch.gradcheck import GradientCheckError, gradcheck

HERE = pathlib.Path(__file__).parent


def all_cases():
    cases = {}
    for path in sorted(HERE.glob("test_ops_*.py")):
        spec = importlib.util.spec_from_file_location(f"_registry_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, entries in module.GRADCHECK_CASES.items():
            cases.setdefault(name, []).extend(entries)
    return cases


def function_classes():
    classes = set()
    for info in pkgutil.iter_modules(nnscratch.functions.__path__):
        module = importlib.import_module(f"nnscratch.functions.{info.name}")
        classes |= {c for _, c in inspect.getmembers(module, inspect.isclass)
                    if issubclass(c, Function) and c is not Function and c.__module__ == module.__name__}
    return classes


@pytest.mark.parametrize("name,case", [(n, c) for n, cs in all_cases().items() for c in cs],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_gradcheck(name, case):
    fn, inputs = case
    assert gradcheck(fn, inputs)


def test_every_public_op_has_a_gradcheck_case():
    missing = sorted(set(F.__all__) - set(all_cases()))
    assert not missing, f"ops without a gradient-check case: {missing}"


def test_every_function_class_is_reached_by_a_case(monkeypatch):
    reached = set()
    original = Function.__call__

    def recording_call(self, *inputs):
        reached.add(type(self))
        return original(self, *inputs)

    monkeypatch.setattr(Function, "__call__", recording_call)
    for entries in all_cases().values():
        for fn, inputs in entries:
            fn(*[Tensor(x) for x in inputs])
    missing = sorted(c.__qualname__ for c in function_classes() - reached)
    assert not missing, f"Function classes no gradient-check case calls: {missing}"


def test_the_checker_itself_fails_on_a_wrong_backward():
    class WrongSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return gy * self.x  # should be 2x

    with pytest.raises(GradientCheckError, match="input 0"):
        gradcheck(lambda x: WrongSquare()(x), [np.linspace(0.5, 1.5, 5)])
    with pytest.raises(GradientCheckError, match="random direction"):
        gradcheck(lambda x: WrongSquare()(x), [np.linspace(0.5, 1.5, 5000)])
