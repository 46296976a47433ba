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


# --- the API page lists every parameter ------------------------------------------------------------
# book/api.md documents every module of chattn with autodoc + napoleon (Google style): a parameter
# shows on the page only if napoleon turns the docstring's ``Args:`` into ``:param name:``. Two
# parameters on one ``Args:`` line lose the second, so every public class and function is checked.

def _api_modules() -> list[str]:
    """Every module of chattn but the private ones (``_validate``): what api.md documents."""
    import pkgutil
    import chattn
    return ["chattn"] + sorted(m.name for m in pkgutil.walk_packages(chattn.__path__, "chattn.")
                               if not any(part.startswith("_") for part in m.name.split(".")))


def _public(module):
    """(qualified name, object) of every class and function the module's autodoc lists."""
    import inspect
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for n in names:
        obj = getattr(module, n, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module.__name__:
            yield f"{module.__name__}.{n}", obj


def _parameters(obj) -> list[str]:
    import inspect
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    if inspect.isclass(obj) and signature.parameters == inspect.signature(object).parameters:
        return []
    if inspect.isclass(obj) and not {"__init__", "__new__", "_fields"} & set(vars(obj)):
        return []                                   # inherited: documented where it is defined
    return [("**" if p.kind == p.VAR_KEYWORD else "*" if p.kind == p.VAR_POSITIONAL else "") + p.name
            for p in signature.parameters.values() if p.name != "self"]


def undocumented_parameters(obj) -> list[str]:
    """The parameters of ``obj`` that napoleon does not turn into ``:param name:``."""
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    text = str(GoogleDocstring(inspect_doc(obj), Config(napoleon_use_param=True)))
    documented = {line.split(":")[1].split()[-1].replace("\\", "")
                  for line in text.splitlines() if line.startswith(":param ")}
    if _is_record(obj):                 # a NamedTuple or dataclass: its fields are its attributes
        from sphinx.pycode import ModuleAnalyzer
        documented |= {line.split("::")[1].strip() for line in text.splitlines()
                       if line.startswith(".. attribute::")}
        documented |= {name for (owner, name) in ModuleAnalyzer.for_module(obj.__module__).find_attr_docs()
                       if owner == obj.__qualname__}
    return [p for p in _parameters(obj) if p not in documented]


def _is_record(obj) -> bool:
    import dataclasses
    return isinstance(obj, type) and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"))


def inspect_doc(obj) -> str:
    import inspect
    return inspect.cleandoc(obj.__doc__ or "")


def test_undocumented_parameters_sees_a_packed_line():
    def packed(channels, reduction):
        """Two on a line.

        Args:
            channels: C.  reduction: r.
        """
    def fine(channels, *args, **options):
        """One a line.

        Args:
            channels: C.
            *args: more.
            **options: passed on.
        """
    assert undocumented_parameters(packed) == ["reduction"]
    assert undocumented_parameters(fine) == []


def test_the_checked_modules_are_the_whole_package():
    names = _api_modules()
    assert {"chattn.base", "chattn.models.resnet", "chattn.export", "chattn.viz"} <= set(names)
    assert "chattn._validate" not in names


def _api_objects():
    for name in _api_modules():
        yield from _public(importlib.import_module(name))


@pytest.mark.parametrize("name, obj", list(_api_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_api_page_lists_every_parameter(name, obj):
    assert undocumented_parameters(obj) == [], name


# A section header right under a line of text is not a section to napoleon: ``Args:`` then stays in
# the paragraph above, and the page shows ":param D: ..." as text (found in Encoding, ChannelConv1d).
SECTIONS = ("Args:", "Arguments:", "Parameters:", "Returns:", "Yields:", "Raises:", "Attributes:",
            "Example:", "Examples:", "Note:", "Notes:")


def sections_without_blank_line(doc: str) -> list[str]:
    """The section headers of a docstring that follow a non-blank line."""
    lines = doc.splitlines()
    return [line.strip() for above, line in zip(lines, lines[1:])
            if line.strip() in SECTIONS and above.strip()]


def test_sections_without_blank_line_sees_a_header_under_text():
    assert sections_without_blank_line("Sum.\nShape: (B, C).\nArgs:\n    x: input.") == ["Args:"]
    assert sections_without_blank_line("Sum.\n\nArgs:\n    x: input.\n\nReturns:\n    y.") == []


@pytest.mark.parametrize("name, obj", list(_api_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_section_header_stands_after_a_blank_line(name, obj):
    assert sections_without_blank_line(inspect_doc(obj)) == [], name
