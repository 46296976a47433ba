"""IPython startup file for the build's kernels (book/_ext/chattn_book.py copies it into the
IPYTHONDIR it gives them): every matplotlib figure a notebook shows as PNG is made by
chattn.interactive.figure_png, so the PNG carries its smallest text size (tEXt chunk
``chattn:min-text-px``, read back by tests/test_legibility.py), as slider frames do.

IPython's inline backend registers ``IPython.core.pylabtools.print_figure`` (through a partial,
looked up when the backend is configured) as the PNG formatter of Figure; replacing that function
before the backend loads makes every later registration use this one."""


def _chattn_min_text_formatter():
    from binascii import b2a_base64

    import IPython.core.pylabtools as pylabtools

    original = pylabtools.print_figure

    def print_figure(fig, fmt="png", bbox_inches="tight", base64=False, **kwargs):
        if fmt != "png":
            return original(fig, fmt, bbox_inches, base64, **kwargs)
        if not fig.axes and not fig.lines:       # as IPython: an empty figure shows nothing
            return None
        from chattn.interactive import figure_png

        kwargs.pop("format", None)
        data = figure_png(fig, bbox_inches=bbox_inches, **kwargs)
        return b2a_base64(data, newline=False).decode("ascii") if base64 else data

    print_figure.__wrapped__ = original
    pylabtools.print_figure = print_figure


_chattn_min_text_formatter()
del _chattn_min_text_formatter
