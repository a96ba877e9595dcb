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
    ("pe-sinusoidal", "003 §4.2.2"): """
>>> p, d = np.arange(3)[:, None], 8
>>> i = np.arange(d // 2)  # the frequency index, 0 <= i < d/2
>>> P = refpe.pe_sinusoidal(3, d)
>>> bool(np.allclose(P[:, 0::2], np.sin(p / 10000.0 ** (2 * i / d))))
True
>>> 10000.0 ** (2 * d / d)  # i = d, the text's reading: one divisor for every column
100000000.0
>>> Q = refpe.pe_sinusoidal(3, d, layout="concatenated")  # the seed's [sin..., cos...]
>>> bool(np.array_equal(Q[:, : d // 2], P[:, 0::2]))
True
""",
    ("pe-sinusoidal", "001 §5.2"): """
>>> pos, d = np.arange(5), 8
>>> div_term = np.exp(np.arange(0, d, 2) * (-np.log(10000.0) / d))
>>> pos.shape, div_term.shape  # the seed's position * div_term: these do not broadcast
((5,), (4,))
>>> P = refpe.pe_sinusoidal(pos, d)  # refpe: the outer product p * omega_i
>>> bool(np.allclose(P[:, 0::2], np.sin(pos[:, None] * div_term)))
True
""",
    ("pe-projected-sinusoid", "001 §3.2, §4.2"): """
>>> w1, w2 = np.arange(6.0), np.ones(6)  # (d,) vectors for a scalar alpha, d = 6
>>> E = refpe.pe_projected_sinusoid(4, np.array(0.5), w1, w2)  # positions 0..3
>>> E.shape  # p is a position; the width is d = 6, not 2p
(4, 6)
>>> bool(np.allclose(E[3], np.sin(0.5 * 3) * w1 + np.cos(0.5 * 3) * w2))
True
""",
    ("pe-linear", "000 §4"): """
>>> PE = refpe.pe_linear(np.arange(4), np.full(3, 0.5), np.zeros(3))  # w = 0.5, b = 0
>>> PE[:, 0].tolist()  # grows linearly with p, unlike the seed's random table
[0.0, 0.5, 1.0, 1.5]
""",
    ("pe-linear", "003 §5.2"): """
>>> w = refpe.init_normal((6, 3), seed=1)  # one nn.Linear(1, 3) per position: w_p, b_p
>>> b = refpe.init_normal((6, 3), seed=2)
>>> PE = refpe.pe_linear(np.array([0, 2, 5]), w, b)  # integer positions, cast to float
>>> PE.dtype, bool(np.allclose(PE[2], 5.0 * w[5] + b[5]))
(dtype('float64'), True)
""",
    ("token-one-hot", "003 §4.2.1"): """
>>> W = refpe.init_normal((10, 4), seed=0)  # V = 10 words, d = 4
>>> X = np.eye(10)[7]  # word 7's one-hot input has V = 10 entries, not d = 4
>>> out = refpe.token_one_hot(np.array([7]), W)
>>> out.shape, bool(np.allclose(out[0], X @ W)), bool(np.allclose(out[0], W.T @ X))
((1, 4), True, True)
""",
    ("attn-sdpa", "002 §2"): """
>>> q = k = v = np.random.default_rng(0).standard_normal((1, 4, 2))  # (heads, T, d_k)
>>> enc = refpe.attn_sdpa(q, k, v)  # the default: every query sees every key (an encoder)
>>> dec = refpe.attn_sdpa(q, k, v, causal=True)  # the seed's reading: earlier keys only
>>> bool(np.allclose(enc[0, 3], dec[0, 3]))  # the last query sees all keys either way
True
>>> bool(np.allclose(enc[0, 0], dec[0, 0])), bool(np.allclose(dec[0, 0], v[0, 0]))
(False, True)
""",
    ("init-framework-defaults", "004 §1"): """
>>> E = refpe.init_framework_default((1000, 64), framework="torch", kind="embedding", seed=0)
>>> round(float(np.std(E)), 1), bool(np.abs(E).max() > 1)  # N(0, 1): not a uniform [-a, a]
(1.0, True)
>>> L = refpe.init_framework_default((64, 100), framework="torch", kind="linear", seed=0)
>>> bool(np.abs(L).max() <= 0.1)  # nn.Linear (out, in): U(-1/sqrt(100), 1/sqrt(100))
True
""",
}
