import hashlib
import random
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from app.webtext import dedup, hash_normalization, near_duplicates
from app.webtext.dedup import (
    Signature,
    fingerprint,
    fingerprint_many,
    is_current_signature,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
    text_hash,
)
from app.webtext.exact_duplicates import TextHashIds
from app.webtext.hash_normalization import normalize_for_hash
from app.webtext.near_duplicates import (
    NearDuplicateIndex,
    Verdict,
    deduplicate_chunk,
    optimal_bands,
)
from tests.conftest import require_compiled_module


def shingle_hashes(text: str, *, seed: int = dedup.DEFAULT_SEED) -> NDArray[np.uint64]:
    """The 32-bit hashes (as uint64) of the character 5-grams of the normalized text, as MinHash sees them."""
    return dedup._shingle_keys(dedup._codes_for_hash(text)[1], seed).astype(np.uint64)


def estimate_jaccard(first: Signature, second: Signature) -> float:
    """The Jaccard similarity of two texts estimated as the share of equal signature slots."""
    assert first.shape == second.shape
    return float(np.count_nonzero(first == second)) / first.size


COMMON = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性"
    "好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第"
)


def chinese_text(length: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(COMMON) for _ in range(length))


def mutate(text: str, changes: int, seed: int) -> str:
    rng = random.Random(seed)
    chars = list(text)
    for position in rng.sample(range(len(chars)), changes):
        chars[position] = "𠮷" if chars[position] != "𠮷" else "吉"
    return "".join(chars)


def true_jaccard(first: str, second: str) -> float:
    a, b = set(shingle_hashes(first).tolist()), set(shingle_hashes(second).tolist())
    return len(a & b) / len(a | b)


def test_identical_texts_have_the_same_hash() -> None:
    assert text_hash("你好，世界！") == text_hash("你好，世界！")
    assert len(text_hash("abc")) == 64


def test_hash_is_sha256_of_the_normalized_text() -> None:
    assert text_hash("") == hashlib.sha256(b"").hexdigest()
    assert text_hash("Hello, World!") == hashlib.sha256(b"hello world").hexdigest()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Hello   World", "hello world"),
        ("Hello,\tWorld!\n", "hello world"),
        ("ＡＢＣ　１２３", "abc 123"),
        ("你好，世界！", "你好,世界!"),
        ("你好，世界！", "你好 世界"),
        ("你好 ， 世界 。", "你好世界"),
        ("\u3000\u3000第一段。\n\n第二段。", "第一段第二段"),
        ("「引号」和“引号”", "引号和引号"),
        ("co\u00adoperate\u200b", "cooperate"),
        ("❤️ love", "❤ love"),
        ("Straße", "STRASSE"),
        ("a,b", "a, b"),
    ],
)
def test_whitespace_width_case_and_punctuation_variants_hash_the_same(first: str, second: str) -> None:
    assert text_hash(first) == text_hash(second)


def test_normalize_for_hash_examples() -> None:
    assert normalize_for_hash("  Hello,  World!  ") == "hello world"
    assert normalize_for_hash("２０２４年５月，ＧＤＰ增长５．６％。") == "2024年5月gdp增长5 6"
    assert normalize_for_hash("⒈ first") == "1 first"
    assert normalize_for_hash("𠮷野家 👍🏽 ok") == "𠮷野家👍🏽 ok"
    assert normalize_for_hash("") == ""
    assert normalize_for_hash(" \n\t ") == ""


@pytest.mark.parametrize(
    ("first", "second"),
    [("你好世界", "您好世界"), ("abc", "abd"), ("𠮷野家", "吉野家"), ("👍🏽", "👍🏿"), ("12", "1 2")],
)
def test_different_texts_hash_differently(first: str, second: str) -> None:
    assert text_hash(first) != text_hash(second)


def test_signature_shape_dtype_and_determinism() -> None:
    signature = minhash_signature("你好世界，欢迎来到Concord。")
    assert signature.dtype == np.uint32
    assert signature.shape == (128,)
    assert np.array_equal(signature, minhash_signature("你好世界，欢迎来到Concord。"))
    # Signatures are stored in the database, so the hashing must never drift without a new SIGNATURE_TAG.
    assert signature[:4].tolist() == [59387606, 59387606, 514680442, 1410962145]


def test_signature_depends_on_seed_and_num_perm() -> None:
    text = chinese_text(200, seed=1)
    assert minhash_signature(text, num_perm=64).shape == (64,)
    assert not np.array_equal(minhash_signature(text, seed=1), minhash_signature(text, seed=2))
    with pytest.raises(ValueError, match="num_perm"):
        minhash_signature(text, num_perm=0)


def test_normalized_variants_have_the_same_signature() -> None:
    text = chinese_text(300, seed=2)
    spaced = "　".join(text[i : i + 10] for i in range(0, len(text), 10)) + "！"
    assert np.array_equal(minhash_signature(text), minhash_signature(spaced))


def test_shingles_are_code_point_five_grams() -> None:
    assert shingle_hashes("𠮷野家很好吃").size == 2
    assert shingle_hashes("👍🏽👍🏽👍").size == 1
    assert shingle_hashes("abcd").size == 1
    assert shingle_hashes("").size == 1
    assert shingle_hashes("a").tolist() != shingle_hashes("").tolist()


def test_short_texts() -> None:
    assert np.array_equal(minhash_signature("你好"), minhash_signature("你好！"))
    assert estimate_jaccard(minhash_signature("你好"), minhash_signature("您好")) < 0.1
    assert estimate_jaccard(minhash_signature("abcd"), minhash_signature("abcde")) < 0.1
    index = NearDuplicateIndex()
    index.add("short", minhash_signature("你好"))
    assert index.query(minhash_signature("你好")) == ["short"]
    assert index.query(minhash_signature("您好")) == []


def test_empty_text() -> None:
    empty = minhash_signature("")
    assert empty.shape == (128,)
    assert np.array_equal(empty, minhash_signature("  \n "))
    assert np.array_equal(empty, minhash_signature("。！？"))
    index = NearDuplicateIndex()
    index.add("empty", empty)
    assert index.query(minhash_signature("")) == ["empty"]
    assert index.query(minhash_signature("a")) == []


def test_astral_characters_and_emoji() -> None:
    text = "𠮷野家👍🏽很好吃👨\u200d👩\u200d👧" + chinese_text(100, seed=3)
    assert np.array_equal(minhash_signature(text), minhash_signature(text))
    changed = text.replace("𠮷", "吉")
    assert text_hash(text) != text_hash(changed)
    assert 0.8 < estimate_jaccard(minhash_signature(text), minhash_signature(changed)) < 1.0


def test_near_duplicate_with_a_few_changed_characters_is_found() -> None:
    original = chinese_text(1000, seed=4)
    near = mutate(original, changes=5, seed=5)
    assert true_jaccard(original, near) > 0.9
    index = NearDuplicateIndex(threshold=0.8)
    index.add("original", minhash_signature(original))
    for seed in range(6, 12):
        index.add(f"other-{seed}", minhash_signature(chinese_text(1000, seed=seed)))
    assert index.query(minhash_signature(near)) == ["original"]


def test_clearly_different_texts_are_not_found() -> None:
    index = NearDuplicateIndex()
    for seed in range(20):
        index.add(str(seed), minhash_signature(chinese_text(1000, seed=seed)))
    assert index.query(minhash_signature(chinese_text(1000, seed=99))) == []
    heavily_changed = mutate(chinese_text(1000, seed=0), changes=150, seed=1)
    assert index.query(minhash_signature(heavily_changed)) == []


def test_query_orders_by_similarity() -> None:
    original = chinese_text(1000, seed=4)
    index = NearDuplicateIndex(threshold=0.8)
    index.add("far", minhash_signature(mutate(original, changes=12, seed=1)))
    index.add("near", minhash_signature(mutate(original, changes=1, seed=2)))
    index.add("same", minhash_signature(original))
    assert index.query(minhash_signature(original)) == ["same", "near", "far"]


def test_threshold_is_configurable() -> None:
    original = chinese_text(1000, seed=4)
    variant = mutate(original, changes=30, seed=8)
    estimate = estimate_jaccard(minhash_signature(original), minhash_signature(variant))
    assert 0.6 < estimate < 0.8
    loose, strict = NearDuplicateIndex(threshold=0.5), NearDuplicateIndex(threshold=0.8)
    for index in (loose, strict):
        index.add("original", minhash_signature(original))
    assert loose.query(minhash_signature(variant)) == ["original"]
    assert strict.query(minhash_signature(variant)) == []
    assert (loose.bands, loose.rows) != (strict.bands, strict.rows)


def test_optimal_bands_fit_the_threshold() -> None:
    assert optimal_bands(0.8, 128) == (9, 13)  # datasketch's choice for its default weights
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = optimal_bands(threshold, 128, 0.2, 0.8)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands > 0.5
    assert optimal_bands(0.9, 128)[1] > optimal_bands(0.5, 128)[1]
    with pytest.raises(ValueError, match="threshold"):
        optimal_bands(1.0, 128)


def _optimal_bands_by_loop(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """optimal_bands as datasketch defines it: try every (bands, rows) in turn, keep the first least error."""
    grid = np.linspace(0.0, 1.0, 1001)
    below, above = grid <= threshold, grid >= threshold
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            probability = 1.0 - (1.0 - grid**rows) ** bands
            false_positive = np.trapezoid(probability[below], grid[below])
            false_negative = np.trapezoid(1.0 - probability[above], grid[above])
            error = float(fp_weight * false_positive + fn_weight * false_negative)
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.5, 0.75, 0.8, 0.85, 0.95])
@pytest.mark.parametrize(
    ("num_perm", "weights"), [(128, (0.5, 0.5)), (128, (0.2, 0.8)), (64, (0.9, 0.1)), (7, (0.2, 0.8))]
)
def test_optimal_bands_are_the_first_least_error_of_every_choice(
    threshold: float, num_perm: int, weights: tuple[float, float]
) -> None:
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_bands_by_loop(threshold, num_perm, *weights)


def test_signature_bytes_round_trip() -> None:
    signature = minhash_signature(chinese_text(500, seed=5))
    data = signature_to_bytes(signature)
    assert isinstance(data, bytes)
    assert len(data) == 4 + 128 * 4
    assert is_current_signature(data)
    restored = signature_from_bytes(data)
    assert restored.dtype == np.uint32
    assert np.array_equal(restored, signature)
    restored[0] = 0  # the restored array is an ordinary writable copy
    assert signature_to_bytes(np.array([1, 0x01020304], dtype=np.uint32)) == b"OPH1\x01\x00\x00\x00\x04\x03\x02\x01"


@pytest.mark.parametrize("data", [b"OPH1", b"OPH1\x00\x01\x02"])
def test_signature_from_bad_bytes(data: bytes) -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        signature_from_bytes(data)


@pytest.mark.parametrize("data", [b"", bytes(512), b"OPH1" + bytes(508), b"OPH1" + bytes(256)])
def test_signatures_of_the_older_scheme_or_another_size_are_not_current(data: bytes) -> None:
    # 512 untagged bytes: a 128-permutation signature from before one-permutation hashing.
    assert not is_current_signature(data)
    assert not is_current_signature(None)
    if not data.startswith(b"OPH1"):
        with pytest.raises(ValueError, match="older signature"):
            signature_from_bytes(data)


def test_index_rebuilt_from_stored_bytes_answers_the_same() -> None:
    texts = {f"doc-{seed}": chinese_text(800, seed=seed) for seed in range(10)}
    stored = {key: signature_to_bytes(minhash_signature(text)) for key, text in texts.items()}
    rebuilt = NearDuplicateIndex()
    for key, data in stored.items():
        rebuilt.add(key, signature_from_bytes(data))
    assert len(rebuilt) == 10
    assert "doc-3" in rebuilt
    assert rebuilt.query(rebuilt.signature(mutate(texts["doc-3"], changes=3, seed=1))) == ["doc-3"]


def test_index_rejects_duplicate_keys_and_wrong_shapes() -> None:
    index = NearDuplicateIndex(num_perm=64)
    signature = index.signature("你好世界")
    index.add("a", signature)
    with pytest.raises(ValueError, match="already indexed"):
        index.add("a", signature)
    with pytest.raises(ValueError, match="64 values"):
        index.add("b", minhash_signature("你好世界"))
    with pytest.raises(ValueError, match="64 values"):
        index.query(minhash_signature("你好世界"))


def test_estimate_tracks_true_jaccard() -> None:
    original = chinese_text(1000, seed=10)
    errors = []
    for changes in (0, 5, 20, 50, 100):
        variant = mutate(original, changes=changes, seed=changes)
        estimate = estimate_jaccard(minhash_signature(original), minhash_signature(variant))
        errors.append(abs(estimate - true_jaccard(original, variant)))
    assert errors[0] == 0
    # Four standard errors of a 128-permutation estimate at worst.
    assert max(errors) < 0.18


def test_long_text_is_hashed_in_chunks() -> None:
    text = chinese_text(20_000, seed=11)
    signature = minhash_signature(text)
    assert signature.shape == (128,)
    assert estimate_jaccard(signature, minhash_signature(text[:19_900])) > 0.9


def test_fingerprint_equals_hash_and_signature_computed_apart() -> None:
    from app.webtext.dedup import fingerprint, minhash_signature, text_hash

    for text in ["", "𠮷野家😀", "张伟于2008年毕业于北京大学。" * 20]:
        digest, signature = fingerprint(text)
        assert digest == text_hash(text)
        assert (signature == minhash_signature(text)).all()


def planted_signatures(count: int, seed: int) -> tuple[list[str], NDArray[np.uint32]]:
    """Random signatures, with some sharing whole bands, some near-duplicates and some similar in no whole band."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 2**32, (count, 128), dtype=np.uint64).astype(np.uint32)
    for row in range(1, count):
        source = matrix[rng.integers(0, row)]
        kind = row % 4
        if kind == 1:  # one whole band (of 12 x 10 at threshold 0.8) in common, otherwise unrelated
            band = int(rng.integers(0, 12)) * 10
            matrix[row, band : band + 10] = source[band : band + 10]
        elif kind == 2:  # a near-duplicate
            matrix[row] = source
            matrix[row, rng.choice(128, int(rng.integers(0, 40)), replace=False)] = rng.integers(
                0, 2**32, dtype=np.uint64
            )
        elif kind == 3:  # 90% similar, yet one slot of every band differs
            matrix[row] = source
            matrix[row, np.arange(12) * 10 + rng.integers(0, 10, 12)] ^= 1
    return [f"doc-{row}-𠮷" for row in range(count)], matrix


def exact_band_query(keys: list[str], matrix: NDArray[np.uint32], signature: Signature, threshold: float) -> list[str]:
    """What the index answers by definition: texts sharing a whole band, as similar as the threshold, best first."""
    bands, rows = optimal_bands(threshold, 128, 0.2, 0.8)
    width = bands * rows
    shares = (matrix[:, :width].reshape(-1, bands, rows) == signature[:width].reshape(bands, rows)).all(axis=2)
    similarity = np.count_nonzero(matrix == signature, axis=1) / 128
    found = [(float(s), key) for key, s, share in zip(keys, similarity, shares.any(axis=1), strict=True) if share]
    return [key for s, key in sorted(found, key=lambda m: (-m[0], m[1])) if s >= threshold - 1e-9]


def test_index_answers_exactly_by_whole_bands_past_block_and_merge_sizes() -> None:
    keys, matrix = planted_signatures(5000, seed=1)  # more than a block of signatures and many merges
    index = NearDuplicateIndex(threshold=0.8)
    for key, signature in zip(keys, matrix, strict=True):
        index.add(key, signature)
    assert len(index) == 5000
    assert keys[0] in index
    assert keys[4999] in index
    assert "doc-5000-𠮷" not in index
    _, others = planted_signatures(300, seed=2)
    for signature in [*matrix[::37], *others]:
        assert index.query(signature) == exact_band_query(keys, matrix, signature, 0.8)
    assert index.query(matrix[6]) == exact_band_query(keys, matrix, matrix[6], 0.8) != []


def _collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every band and key of the index land in one of four hash buckets."""
    monkeypatch.setattr(near_duplicates, "_MASK32", 3)
    band_keys = NearDuplicateIndex._band_keys
    monkeypatch.setattr(NearDuplicateIndex, "_band_keys", lambda index, matrix: band_keys(index, matrix) & np.uint32(3))


def test_colliding_hashes_do_not_change_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    _collide(monkeypatch)
    keys, matrix = planted_signatures(400, seed=3)
    index = NearDuplicateIndex(threshold=0.7)
    index.add_many(keys[:200], matrix[:200])
    for key, signature in zip(keys[200:], matrix[200:], strict=True):
        index.add(key, signature)
    for signature in matrix[::7]:
        assert index.query(signature) == exact_band_query(keys, matrix, signature, 0.7)
    assert all(key in index for key in keys)
    assert "doc-400-𠮷" not in index
    with pytest.raises(ValueError, match="already indexed"):
        index.add(keys[123], matrix[0])
    assert len(index._buckets.get_each([0, 1, 2, 3])) == 4  # the collisions did happen


def test_add_many_is_add_one_by_one() -> None:
    keys, matrix = planted_signatures(3000, seed=4)
    one_by_one, at_once = NearDuplicateIndex(), NearDuplicateIndex()
    for key, signature in zip(keys, matrix, strict=True):
        one_by_one.add(key, signature)
    at_once.add_many(keys[:1000], matrix[:1000])
    at_once.add_many(keys[1000:1001], [matrix[1000]])
    at_once.add_many([], [])
    at_once.add_many(keys[1001:], list(matrix[1001:]))
    assert len(at_once) == len(one_by_one) == 3000
    for signature in matrix[::11]:
        assert at_once.query(signature) == one_by_one.query(signature)


def test_add_many_refuses_taken_keys_and_bad_shapes_whole() -> None:
    index = NearDuplicateIndex()
    signatures = [minhash_signature(chinese_text(300, seed=seed)) for seed in range(3)]
    index.add("a", signatures[0])
    with pytest.raises(ValueError, match="already indexed: 'a'"):
        index.add_many(["b", "a"], signatures[1:])
    with pytest.raises(ValueError, match="already indexed: 'c'"):
        index.add_many(["c", "c"], signatures[1:])
    with pytest.raises(ValueError, match="2 signatures of 128 values"):
        index.add_many(["b", "c"], signatures)
    with pytest.raises(ValueError, match="1 signatures of 128 values"):
        index.add_many(["b"], [minhash_signature("你好", num_perm=64)])
    assert len(index) == 1
    assert "b" not in index
    assert index.query(signatures[1]) == []


def test_index_keeps_its_own_copy_of_keys_and_signatures() -> None:
    index = NearDuplicateIndex()
    signature = minhash_signature(chinese_text(300, seed=1))
    for key in ["𠮷野家", "\ud800 lone surrogate", ""]:
        index.add(key, signature if key else minhash_signature("x"))
    original = signature.copy()
    signature[:] = 0
    assert index.query(original) == ["\ud800 lone surrogate", "𠮷野家"]
    assert index.query(signature) == []
    assert "" in index


def test_text_hash_ids_map_hashes_to_ids_or_pending() -> None:
    ids = TextHashIds()
    digests = [text_hash(str(i)) for i in range(10_000)]  # past the merge size, so both tiers are used
    for i, digest in enumerate(digests[:6000]):
        ids[digest] = None if i % 3 == 0 else i
    ids.update([(digest, i) for i, digest in enumerate(digests[6000:], start=6000)])
    assert len(ids) == 10_000
    assert ids[digests[0]] is None
    assert ids[digests[1]] == 1
    assert ids[digests[9999]] == 9999
    ids[digests[0]] = 5  # the pending document is stored
    ids[digests[9999]] = None
    assert ids[digests[0]] == 5
    assert ids[digests[9999]] is None
    assert len(ids) == 10_000
    assert digests[123] in ids
    assert text_hash("absent") not in ids
    assert 42 not in ids
    with pytest.raises(KeyError):
        ids[text_hash("absent")]
    with pytest.raises(ValueError, match="never negative"):
        ids["x"] = -1
    ids.update([(digests[1], 7), ("h1", 8), ("h1", 9)])  # present or repeated: assigned one by one
    assert (ids[digests[1]], ids["h1"], len(ids)) == (7, 9, 10_001)


TRICKY = (
    "ab Z.,!?，。、 \t\n\u3000\u00a0中文字𠮷野家한국어カタカナｶﾀｶﾅ㎡℃①⒈™ﬁßİΣσςǅ\u200b\u00ad\ufe0f👍🏽\U000e0067"
    "\u0301\u1161\u11a8가\u1100ＡＢＣ１２３！＃（）＿"
)


@pytest.mark.parametrize(
    "text",
    [
        "房价每㎡上涨3%，气温28℃。",
        "① 第一条；⒈ first ™ ﬁne",
        "Straße İstanbul ΣΟΦΟΣ ǅ",
        "ｶﾀｶﾅ and 한국어 and 가\u11a8",
        "e\u0301 café",
        "  a  中  b ， 。c  ",
        "🏴\U000e0067\U000e0062\U000e007f flag",
        "\u3000\u3000第一段。\n\n第二段。",
        "",
    ],
)
def test_table_normalization_is_the_definition(text: str) -> None:
    assert normalize_for_hash(text) == hash_normalization.normalize_in_full(text)


def test_table_normalization_matches_the_definition_on_random_text() -> None:
    rng = random.Random(7)
    table = hash_normalization.normalize_table()
    by_table = [code for code in range(0, 0x40000, 97) if table.direct[code] != hash_normalization._GENERAL]
    on_table_path = 0
    for i in range(4000):
        if i % 2:
            text = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 16)))
        else:
            text = "".join(
                chr(rng.choice(by_table)) if rng.random() < 0.5 else rng.choice(TRICKY)
                for _ in range(rng.randint(0, 12))
            )
        codes = hash_normalization.normalized_codes(text)
        if codes is not None:
            on_table_path += 1
            assert hash_normalization.codes_to_text(codes) == hash_normalization.normalize_in_full(text), repr(text)
    assert on_table_path > 2000


def test_ordinary_chinese_and_english_text_takes_the_table_path() -> None:
    text = chinese_text(500, seed=1) + "，“引号”（括号）ＧＤＰ增长５．６％。Hello, World! 2024-05-20 ㎡ ℃"
    assert hash_normalization.normalized_codes(text) is not None


@pytest.mark.parametrize("length", [60, 120, 400, 2000])
def test_one_permutation_estimates_track_true_jaccard_at_every_length(length: int) -> None:
    # Texts of fewer 5-grams than bins rely on densification; longer ones fill every bin.
    errors = []
    for seed in range(40):
        original = chinese_text(length, seed=seed)
        variant = mutate(original, changes=1 + seed % max(2, length // 15), seed=seed + 100)
        estimate = estimate_jaccard(minhash_signature(original), minhash_signature(variant))
        errors.append(estimate - true_jaccard(original, variant))
    assert abs(float(np.mean(errors))) < 0.02  # unbiased
    assert float(np.sqrt(np.mean(np.square(errors)))) < 0.06  # about a 128-permutation MinHash's error


def test_index_flags_near_duplicates_at_the_threshold_and_keeps_looser_copies() -> None:
    flagged = kept = 0
    for seed in range(30):
        original = chinese_text(600, seed=seed)
        index = NearDuplicateIndex(threshold=0.8)
        index.add("original", minhash_signature(original))
        near = mutate(original, changes=4, seed=seed)
        loose = mutate(original, changes=40, seed=seed)
        assert true_jaccard(original, near) > 0.9
        assert true_jaccard(original, loose) < 0.65
        flagged += index.query(minhash_signature(near)) == ["original"]
        kept += index.query(minhash_signature(loose)) == []
    assert flagged == kept == 30


def test_empty_bins_copy_filled_ones() -> None:
    signature = minhash_signature("你好世界")  # one 5-gram, so one filled bin that every other bin copies
    assert len(set(signature.tolist())) == 1
    few = minhash_signature(chinese_text(20, seed=1))
    assert 1 < len(set(few.tolist())) <= 16


def test_signatures_and_hashes_keep_their_stored_values() -> None:
    # Digests and signatures of earlier ingestions are stored, so these bytes must never change.
    texts = ["你好世界", chinese_text(20, seed=1), chinese_text(3000, seed=2), "房价每㎡上涨3%，气温28℃。" * 3]
    values = hashlib.sha256()
    for text in texts:
        digest, signature = fingerprint(text)
        values.update(digest.encode())
        values.update(signature.tobytes())
        values.update(minhash_signature(text, num_perm=37, seed=5).tobytes())
    assert values.hexdigest() == "615dd31ae3b16fc8f03c88628f17e1ca989d8698ebc8ebf7f854ba9e3c6c42ee"


@pytest.fixture(scope="module", params=["numpy", "compiled"])
def fingerprint_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """fingerprint_many through each of its paths: NumPy, and the compiled module ingestion prefers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dedup, "_native", require_compiled_module() if request.param == "compiled" else None)
        yield request.param


def assert_fingerprints_of_each(texts: list[str]) -> None:
    digests, matrix = fingerprint_many(texts)
    assert matrix.shape == (len(texts), 128)
    assert matrix.dtype == np.uint32
    for text, digest, row in zip(texts, digests, matrix, strict=True):
        expected_digest, expected_signature = fingerprint(text)
        assert digest == expected_digest, repr(text)
        assert np.array_equal(row, expected_signature), repr(text)


# Characters the per-character tables handle (some expand or vanish, some are astral), then ones that make a text
# take the general path (combining marks, Hangul jamo, characters past plane 3).
TABLE_PATH = (
    "中文字国家北京年月日的了ab Z09%.,!?，。、；“”（）《》 \t\n\u3000\u00a0ＡＢ１２！＃ｶﾀ한국㎡℃①⒈ﬁßİΣǅ"
    "\u200b\u00ad\ufe0f𠮷😀"
)
GENERAL_PATH = "\u0301\u1161\u11a8\U000e0067\U000e0100"


@pytest.mark.usefixtures("fingerprint_path")
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=TABLE_PATH, max_size=60),
            st.text(alphabet=TABLE_PATH, min_size=1, max_size=6),
            st.text(alphabet=TABLE_PATH + GENERAL_PATH, max_size=30),
            st.text(max_size=10),
        ),
        max_size=12,
    )
)
def test_fingerprint_many_equals_fingerprint_of_each_text(texts: list[str]) -> None:
    assert_fingerprints_of_each(texts)


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_of_no_texts() -> None:
    digests, matrix = fingerprint_many([])
    assert digests == []
    assert matrix.shape == (0, 128)
    assert matrix.dtype == np.uint32


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_of_the_empty_text() -> None:
    digests, _ = fingerprint_many([""])
    assert digests == [hashlib.sha256(b"").hexdigest()]
    assert_fingerprints_of_each([""])


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_keeps_texts_apart() -> None:
    # Spaces and punctuation at a text's ends are stripped even beside another text's CJK or Latin characters,
    # and no 5-gram spans two texts.
    texts = [
        "新闻 ",
        "，中国北京",
        "abc。",
        "  ",
        "def  ",
        "北京天安门",
        "广场上",
        "。。",
        " 上海 ",
        "ab cd",
        "。 x",
        "中",
    ]
    digests, _ = fingerprint_many(texts)
    assert digests[0] == hashlib.sha256("新闻".encode()).hexdigest()
    assert digests[1] == hashlib.sha256("中国北京".encode()).hexdigest()
    assert digests[4] == hashlib.sha256(b"def").hexdigest()
    assert_fingerprints_of_each(texts)


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_takes_the_general_path_for_the_texts_that_need_it() -> None:
    rare = "e\u0301 café 𠮷野家😀，第一段。"
    assert hash_normalization.normalized_codes(rare) is None
    assert_fingerprints_of_each([chinese_text(300, seed=1), rare, chinese_text(300, seed=2), "ａ\u0301", "你好"])


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_of_a_long_text_among_short_ones() -> None:
    long = "，".join(chinese_text(500, seed=seed) for seed in range(300))  # past a chunk of code points
    assert_fingerprints_of_each(["短文本", long, chinese_text(800, seed=1) + "\n", long[:5], "2024年５月"])


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_is_the_same_in_any_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [chinese_text(length, seed=length) + " ，ＡＢ１２" for length in range(0, 400, 7)]
    expected = fingerprint_many(texts)
    monkeypatch.setattr(dedup, "_CHUNK_CODES", 100)
    digests, matrix = fingerprint_many(texts)
    assert digests == expected[0]
    assert np.array_equal(matrix, expected[1])


@pytest.mark.usefixtures("fingerprint_path")
def test_fingerprint_many_fails_like_fingerprint_on_lone_surrogates() -> None:
    with pytest.raises(UnicodeEncodeError):
        fingerprint("中文\ud800")
    with pytest.raises(UnicodeEncodeError):
        fingerprint_many(["中文中文中文", "中文\ud800"])


def _deduplicate_one_by_one(
    hashes: TextHashIds, index: NearDuplicateIndex, digests: list[str], matrix: NDArray[np.uint32]
) -> list[Verdict]:
    """Ingestion's rule, text by text: exact if the hash is taken, else near if the index finds one, else kept."""
    verdicts = []
    for digest, signature in zip(digests, matrix, strict=True):
        if digest in hashes:
            verdicts.append(Verdict("exact", digest))
        elif near := index.query(signature):
            verdicts.append(Verdict("near", near[0]))
        else:
            index.add(digest, signature)
            hashes[digest] = None
            verdicts.append(Verdict("kept", digest))
    return verdicts


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), stored=st.integers(0, 300), chunk=st.integers(1, 80))
def test_deduplicating_a_chunk_at_once_gives_the_verdicts_of_one_by_one(seed: int, stored: int, chunk: int) -> None:
    keys, matrix = planted_signatures(600, seed=seed)
    # Some texts repeat earlier ones exactly (same hash and signature), near duplicates among them.
    rng = random.Random(seed)
    order = [rng.randrange(row + 1) if rng.random() < 0.1 else row for row in range(600)]
    digests, signatures = [keys[row] for row in order], matrix[order]
    expected = _deduplicate_one_by_one(TextHashIds(), NearDuplicateIndex(), digests, signatures)
    hashes, index = TextHashIds(), NearDuplicateIndex()
    got = _deduplicate_one_by_one(hashes, index, digests[:stored], signatures[:stored])
    for start in range(stored, 600, chunk):
        got += deduplicate_chunk(hashes, index, digests[start : start + chunk], signatures[start : start + chunk])
    assert got == expected
    assert {verdict.kind for verdict in expected} == {"kept", "exact", "near"}
    assert len(index) == len(hashes) == sum(verdict.kind == "kept" for verdict in expected)


def test_deduplicating_a_chunk_with_colliding_hashes_gives_the_verdicts_of_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _collide(monkeypatch)
    keys, matrix = planted_signatures(300, seed=5)
    expected = _deduplicate_one_by_one(TextHashIds(), NearDuplicateIndex(), keys, matrix)
    hashes, index = TextHashIds(), NearDuplicateIndex()
    got = []
    for start in range(0, 300, 64):
        got += deduplicate_chunk(hashes, index, keys[start : start + 64], matrix[start : start + 64])
    assert got == expected and any(verdict.kind == "near" for verdict in got)


def test_deduplicating_a_chunk_refuses_signatures_that_do_not_match_the_hashes() -> None:
    with pytest.raises(ValueError, match="2 signatures of 128 values"):
        deduplicate_chunk(TextHashIds(), NearDuplicateIndex(), ["a", "b"], np.zeros((3, 128), dtype=np.uint32))
