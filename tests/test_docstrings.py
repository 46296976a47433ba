"""Every example in the core's docstrings runs and prints what it says."""
import doctest
import importlib

import pytest
import torch

MODULES = ["chattn", "chattn.base", "chattn.registry", "chattn.squeeze", "chattn.excite",
           "chattn.modules.se", "chattn.modules.enc", "chattn.modules.gsop", "chattn.modules.fca",
           "chattn.modules.bilinear", "chattn.modules.eca", "chattn.modules.rcan_ca", "chattn.modules.dia",
           "chattn.modules.srm", "chattn.modules.gct", "chattn.modules.soca"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(module, extraglobs={"torch": torch, **vars(module)}, verbose=False)
    assert result.failed == 0


def test_every_named_module_has_an_example():
    import chattn
    for name in chattn.available():
        doc = type(chattn.create(name, 64)).__doc__ or ""
        assert ">>>" in doc and ".. math::" in doc and "Shape" in doc, name


def test_submodules_load_on_first_use():
    import chattn
    assert chattn.models.resnet50 is not None and callable(chattn.pretrained.load)
    with pytest.raises(AttributeError, match="no attribute"):
        chattn.not_a_submodule
