"""The "Check yours" section of every spec page: the ``check`` call, the signature the function
must have, the keywords (conventions) it may declare, and, where a third-party form is common,
a worked wrapper for it.

``WRAPPERS`` maps a spec id to ``(title, code)``; the code defines ``wrapper`` and is
shown on the page as it is run by ``tests/test_docs.py`` (one source for both).
"""

from __future__ import annotations

import inspect
from typing import Any

from refpe_rst import escape, heading, indent, literal

#: Keywords of a spec's function that say which convention a call follows, not what it computes.
CONVENTION_KEYWORDS = ("layout", "schedule", "offset", "causal", "bidirectional", "combine")

WRAPPERS: dict[str, tuple[str, str]] = {
    "rope": (
        "Hugging Face ``apply_rotary_pos_emb`` (LLaMA and most decoder models)",
        '''\
import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


def wrapper(x, positions, base=10000.0):
    """refpe.rope's arguments -> Hugging Face's cos/sin tables -> its rotation."""
    r = x.shape[-1]
    # LlamaRotaryEmbedding's frequencies: float32 powers of the base, layout "half".
    inv_freq = 1.0 / base ** (torch.arange(0, r, 2, dtype=torch.int64).float() / r)
    pos = torch.arange(positions) if isinstance(positions, int) else torch.as_tensor(positions)
    freqs = pos[..., None].float() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    # HF unsqueezes cos/sin on a heads axis; unsqueeze_dim=0 only adds a leading 1, dropped here.
    y, _ = apply_rotary_pos_emb(x, x, cos, sin, unsqueeze_dim=0)
    return y.reshape(x.shape)


# the half layout is what it implements (it has no layout= to say so): declare it
report = check(wrapper, "rope", backend="torch", dtypes=("float32",), supports={"layout": "half"})
print(report)  # cases needing rotary_dim=, scaling= or another layout are skipped, with why;
# the float32 angle is exact at short positions and loose (with its horizon) at long ones
''',
    ),
    "token-lookup": (
        "PyTorch ``torch.nn.functional.embedding``",
        """\
import torch.nn.functional as F


def wrapper(ids, table):
    return F.embedding(ids, table)


report = check(wrapper, "token-lookup", backend="torch")
print(report)
""",
    ),
}


def _signature(spec: Any) -> str:
    fn = spec.function
    try:
        return f"{fn.__name__}{inspect.signature(fn)}".replace("'", "")
    except (TypeError, ValueError):
        return fn.__name__


def check_section(spec: Any) -> str:
    """The "Check yours" section of ``spec``'s page."""
    out = [heading("Check yours", "-")]
    out.append(
        "Measure your own implementation against this spec's cases and error model "
        "(:doc:`/guides/check`):\n"
    )
    out.append(
        ".. code-block:: python\n\n"
        + indent(
            "from refpe.conformance import check\n\n"
            f'report = check(my_function, "{spec.id}")  # backend="torch", dtypes=("float32",)\n'
            "assert report.ok, report"
        )
        + "\n"
    )
    out.append(
        "``my_function`` is called with keyword arguments named as refpe's function, whose "
        "signature is\n\n.. code-block:: text\n\n" + indent(_signature(spec)) + "\n"
    )
    params = inspect.signature(spec.function).parameters
    required = [
        n for n, p in params.items() if p.default is p.empty and p.kind is not p.VAR_KEYWORD
    ]
    if required:
        out.append(
            "It must take " + ", ".join(literal(n) for n in required) + ". Any other keyword is "
            "optional: a function without it is not passed it, and a case that needs it is "
            "reported as *skipped* with that reason, never as passed.\n"
        )
    if spec.creates:
        out.append(
            "It builds its output, so it may also take ``dtype=``, ``xp=`` and ``device=`` "
            "(the array namespace of ``backend=``).\n"
        )
    declared = [k for k in CONVENTION_KEYWORDS if k in params]
    if declared:
        out.append(
            "Conventions it may declare by taking the keyword: "
            + "; ".join(
                f"{literal(k)} ({escape(spec.domain[k])})" if k in spec.domain else literal(k)
                for k in declared
            )
            + ". Which one each library uses: :doc:`/_generated/conventions`.\n"
        )
    if spec.id in WRAPPERS:
        title, code = WRAPPERS[spec.id]
        out.append(heading(f"Worked wrapper: {title}", "~"))
        out.append(
            "Adapt the library's call to refpe's arguments; ``tests/test_docs.py`` runs this "
            "code with the docs.\n\n.. code-block:: python\n\n" + indent(code) + "\n"
        )
    return "\n".join(out)
