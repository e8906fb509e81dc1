"""The E5S1 reader: q4_0 dequantisation on hand-built blocks, header / vocabulary / tensors, bad files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from hbt_bench.conversion.e5_file import E5FileError, dequantize_q4_0, read_e5_file
from tests.conversion.e5_writer import TINY_PIECES, pack_q4_0, random_q4_0, write_e5_file


def test_dequantize_hand_built_block():
    # scale 0.5; byte j = 0x(hi)(lo): weight j = (lo - 8) * 0.5, weight j + 16 = (hi - 8) * 0.5
    # 0x80 -> lo 0: -4.0, hi 8: 0.0;  0x0F -> 3.5, -4.0;  0xF0 -> -4.0, 3.5;  0x88 -> 0, 0;  0x81 -> -3.5, 0
    qs = bytes([0x80, 0x0F, 0xF0, 0x88] + [0x81] * 12)
    raw = struct.pack("<e", 0.5) + qs
    expected = [-4.0, 3.5, -4.0, 0.0] + [-3.5] * 12 + [0.0, -4.0, 3.5, 0.0] + [0.0] * 12
    np.testing.assert_array_equal(dequantize_q4_0(raw, 32), np.array(expected, dtype=np.float32))


def test_dequantize_two_blocks_keep_their_own_scale():
    raw = struct.pack("<e", -2.0) + bytes([0x99] * 16) + struct.pack("<e", 0.25) + bytes([0x07] * 16)
    out = dequantize_q4_0(raw, 64)
    # block 1: nibble 9 -> (9 - 8) * -2 = -2 everywhere; block 2: low 7 -> -0.25, high 0 -> -2.0
    np.testing.assert_array_equal(out[:32], np.full(32, -2.0, np.float32))
    np.testing.assert_array_equal(out[32:48], np.full(16, -0.25, np.float32))
    np.testing.assert_array_equal(out[48:], np.full(16, -2.0, np.float32))


def test_dequantize_random_blocks_match_the_writer():
    rng = np.random.default_rng(1)
    raw, expected = random_q4_0(rng, 3, 64, 0.1)
    np.testing.assert_allclose(dequantize_q4_0(raw, 3 * 64).reshape(3, 64), expected, rtol=0, atol=0)


@pytest.mark.parametrize(("n", "nbytes"), [(31, 18), (32, 17), (64, 18)])
def test_dequantize_rejects_wrong_sizes(n, nbytes):
    with pytest.raises(E5FileError, match="q4_0"):
        dequantize_q4_0(b"\0" * nbytes, n, what="q4_0 test")


def test_reads_header_vocabulary_and_tensors(tiny_e5):
    e5 = read_e5_file(tiny_e5)
    assert (e5.hidden, e5.layers, e5.heads, e5.intermediate, e5.max_positions) == (64, 2, 2, 128, 64)
    assert e5.vocab_size == len(TINY_PIECES) + 3 and e5.pieces == list(TINY_PIECES)
    assert (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.norm_map == {9: (32,), 10: (32,), 0x200B: ()}
    assert e5.scores[0] == 0 and e5.scores[5] == pytest.approx(-1.5)
    assert e5.tensor("emb.word").shape == (e5.vocab_size, 64)
    assert e5.tensor("l1.fi.w").shape == (128, 64) and e5.tensor("l1.fo.w").shape == (64, 128)
    assert e5.tensor("l0.fi.b").shape == (128,) and e5.tensor("emb.pos").dtype == np.float32


def test_weights_equal_what_was_written(tmp_path):
    # Same seed, same draws: the writer's first matrix is emb.word.
    path = write_e5_file(tmp_path / "m.bin", seed=7)
    rng = np.random.default_rng(7)
    _, word = random_q4_0(rng, len(TINY_PIECES) + 3, 64, 0.02)
    np.testing.assert_array_equal(read_e5_file(path).tensor("emb.word"), word)


def test_bad_magic_names_the_file(tmp_path):
    path = write_e5_file(tmp_path / "bad.bin", magic=b"GGUF")
    with pytest.raises(E5FileError, match=r"bad\.bin.*magic"):
        read_e5_file(path)


def test_truncated_file_names_the_file_and_field(tmp_path):
    path = write_e5_file(tmp_path / "cut.bin")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(E5FileError, match=r"cut\.bin: truncated while reading"):
        read_e5_file(path)


def test_truncated_tensor_data_is_an_error_when_read(tmp_path):
    path = write_e5_file(tmp_path / "short.bin")
    path.write_bytes(path.read_bytes()[:-100])
    e5 = read_e5_file(path)
    with pytest.raises(E5FileError, match=r"l1\.oln\.b.*past the end"):
        e5.tensor("l1.oln.b")


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(E5FileError, match=r"nope\.bin: cannot read"):
        read_e5_file(tmp_path / "nope.bin")


def test_pack_roundtrip_is_independent_of_the_reader():
    scales = np.array([1.0], np.float16)
    nibbles = np.arange(32) % 16
    raw = pack_q4_0(scales, nibbles[None, :])
    assert raw[2] == 0x00 | (0x00 << 4) and raw[3] == 0x01 | (0x01 << 4)
    np.testing.assert_array_equal(dequantize_q4_0(raw, 32), (nibbles - 8).astype(np.float32))


def test_the_real_file_has_the_documented_shape(real_e5):
    e5 = real_e5
    assert (e5.hidden, e5.layers, e5.heads, e5.intermediate) == (384, 12, 12, 1536)
    assert (e5.vocab_size, e5.max_positions, e5.type_vocab_size) == (250037, 512, 2)
    assert len(e5.pieces) == 250002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.pieces[250001] == "<mask>" and len(e5.tensors) == 5 + 12 * 16
