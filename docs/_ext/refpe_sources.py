"""Links for the sources a spec cites: papers to arXiv or their DOI, libraries to their code,
seed sections to the seed page (``/seeds``)."""

from __future__ import annotations

import re

from refpe_rst import escape

#: (a phrase the source text contains, the address it links to). The first match wins.
PAPERS: tuple[tuple[str, str], ...] = (
    ("Vaswani", "https://arxiv.org/abs/1706.03762"),
    ("Devlin", "https://arxiv.org/abs/1810.04805"),
    ("Su et al.", "https://arxiv.org/abs/2104.09864"),
    ("RoFormer", "https://arxiv.org/abs/2104.09864"),
    ("Press, Smith & Lewis", "https://arxiv.org/abs/2108.12409"),
    ("Raffel", "https://arxiv.org/abs/1910.10683"),
    ("Chen et al. (2023), Positional Interpolation", "https://arxiv.org/abs/2306.15595"),
    ("Peng et al.", "https://arxiv.org/abs/2309.00071"),
    ("Ding et al.", "https://arxiv.org/abs/2402.13753"),
    ("bloc97", "https://www.reddit.com/r/LocalLLaMA/comments/14lz7j5/"),
    ("Meta (2024)", "https://arxiv.org/abs/2407.21783"),
    ("Chen, Xie & He", "https://arxiv.org/abs/2104.02057"),
    ("MAE", "https://arxiv.org/abs/2111.06377"),
    ("Ba, Kiros & Hinton", "https://arxiv.org/abs/1607.06450"),
    ("Sennrich", "https://doi.org/10.18653/v1/P16-1162"),
    ("Wu et al. 2016", "https://arxiv.org/abs/1609.08144"),
    ("Radford et al. 2019", "https://cdn.openai.com/better-language-models/"
     "language_models_are_unsupervised_multitask_learners.pdf"),
    ("Mikolov", "https://arxiv.org/abs/1301.3781"),
    ("Pennington", "https://doi.org/10.3115/v1/D14-1162"),
    ("Bojanowski", "https://doi.org/10.1162/tacl_a_00051"),
    ("Glorot", "https://proceedings.mlr.press/v9/glorot10a.html"),
    ("He et al. 2015", "https://arxiv.org/abs/1502.01852"),
    ("modeling_rope_utils", "https://github.com/huggingface/transformers/blob/main/src/"
     "transformers/modeling_rope_utils.py"),
    ("T5Attention", "https://github.com/huggingface/transformers/blob/main/src/"
     "transformers/models/t5/modeling_t5.py"),
    ("BertEmbeddings", "https://github.com/huggingface/transformers/blob/main/src/"
     "transformers/models/bert/modeling_bert.py"),
    ("PyTorch", "https://pytorch.org/docs/stable/nn.html"),
    ("Keras", "https://keras.io/api/layers/initializers/"),
)  # fmt: skip

_SEED = re.compile(r"seed\s+(\d{3})")


def link_source(text: str) -> str:
    """One source as reST: a seed section links to its seed on the seed page, a paper to its
    address; anything else is plain text."""
    seed = _SEED.search(text.lower())
    if seed:
        return f":ref:`{escape(text)} <seed-{seed.group(1)}>`"
    for phrase, url in PAPERS:
        if phrase in text:
            return f"`{escape(text)} <{url}>`__"
    return escape(text)


def unlinked(sources: tuple[str, ...] | list[str]) -> list[str]:
    """The sources that are neither a seed section nor a known paper or library."""
    return [s for s in sources if link_source(s) == escape(s)]
