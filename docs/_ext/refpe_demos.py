"""Runnable demonstrations of the seed errata, as doctests shown on each spec's page.

``DEMOS`` maps ``(spec id, erratum seed)`` to doctest text. The doctest setup has ``np``
(NumPy) and ``refpe`` imported.
"""

from __future__ import annotations

DEMOS: dict[tuple[str, str], str] = {
    ("init-normal", "004 §1"): """
>>> w = refpe.init_normal((200_000,), seed=0)  # std=0.02 is the default
>>> round(float(np.std(w)), 3)  # std 0.02, as torch.randn(dim) * 0.02
0.02
>>> round(float(np.var(w)), 4)  # variance 0.0004, not the text's 0.02
0.0004
""",
    ("pe-sinusoidal-learnable", "001 §5.2"): """
>>> P = refpe.pe_sinusoidal_learnable(50, 16)
>>> P.shape  # (max_len, d); the seed's code is (d_model, max_len)
(50, 16)
>>> bool(np.array_equal(P, refpe.pe_sinusoidal(50, 16)))  # no noise unless asked for
True
>>> noisy = refpe.pe_sinusoidal_learnable(50, 16, noise_std=0.1, seed=0)
>>> round(float(np.std(noisy - P)), 2)  # the seed adds torch.randn: std 1
0.1
""",
    ("input-add", "000 §4"): """
>>> E = refpe.init_normal((10, 4), seed=0)
>>> PE = refpe.pe_sinusoidal(6, 4)
>>> ids = np.array([[1, 2, 3]])
>>> np.concatenate([E, PE], axis=0).shape  # the seed's tf.concat(axis=0)
(16, 4)
>>> x = refpe.input_add(ids, E, PE)  # refpe: a per-token sum, v_word + p_i
>>> x.shape
(1, 3, 4)
>>> bool(np.array_equal(x[0, 1], E[2] + PE[1]))
True
>>> refpe.input_add(ids, E, PE, combine="concat").shape  # on the feature axis
(1, 3, 8)
""",
    ("attn-seed-simplified", "002 §3 step 3 vs §4"): """
>>> rng = np.random.default_rng(0)
>>> E, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), np.zeros(3)
>>> h = refpe.attn_seed_simplified(E, W, b)  # the formula: v sums every position j
>>> h_text = refpe.attn_seed_simplified(E, W, b, exclude_self=True)  # the text
>>> bool(np.allclose(h - h_text, E))  # c3 = 1: the readings differ by E_i
True
""",
    ("pe-dual-linear", "000 §2.3, §4.2"): """
>>> P1 = refpe.pe_sinusoidal(5, 4)
>>> P2 = refpe.pe_linear(np.arange(5), np.full(4, 0.5), np.ones(4))  # 1 + p/2
>>> bool(np.array_equal(refpe.pe_dual_linear(P1, P2), P1 * P2))  # §4.2: P1[i] ⊙ P2[i]
True
>>> bool(np.array_equal(refpe.pe_dual_linear(P1, P2), P1 + P2))  # not a sum
False
""",
    ("tok-wordpiece", "004 §4"): """
>>> from refpe.tokenize import WordPiece
>>> vocab = ["[UNK]", "深", "度", "学", "习", "##度学", "##习"]
>>> WordPiece(vocab).tokenize("深度学习")  # CJK characters isolated first (BERT)
['深', '度', '学', '习']
>>> WordPiece(vocab, chinese_chars=False).tokenize("深度学习")  # the seed's reading
['深', '##度学', '##习']
""",
}
