"""Every example in the library's docstrings runs and prints what it claims."""

import doctest
import importlib
import pkgutil

import pytest

import almo

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(almo.__path__, prefix="almo.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
