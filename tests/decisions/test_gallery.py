import numpy as np
import pytest

from citywatch.decisions.gallery import NO_MATCH, Gallery, GalleryError


def _unit(*rows):
    a = np.asarray(rows, np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _gallery():
    # Subject 7 has two photos (rows 0 and 2); subject 9 one (row 1).
    return Gallery.build(
        _unit([1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]), [7, 9, 7], ["ann", "bob", "ann"], [1, 2, 1]
    )


@pytest.mark.parametrize(
    ("query", "row", "score"),
    [
        ([1, 0, 0], 0, 1.0),
        ([0, 1, 0], 1, 1.0),
        ([0.6, 0.8, 0], 2, 1.0),  # the subject's second photo wins: best over its photos
        ([0, 0, 1], 0, 0.0),  # ties: the first row
        ([-1, -0.2, 0], 1, -0.19611613),  # nothing close: still the best row, low score
    ],
)
def test_search_table(query, row, score):
    idx, best = _gallery().search(_unit(query))
    assert idx.tolist() == [row]
    assert best[0] == pytest.approx(score, abs=1e-6)


def test_batch_search_and_subject_lookup():
    g = _gallery()
    idx, score = g.search(_unit([0.1, 1, 0], [1, 0.1, 0]))
    assert idx.tolist() == [1, 0]
    assert g.subject(int(idx[0])).name == "bob"
    assert g.subject(int(idx[1])).subject_id == 7 and g.subject(2).watchlist_id == 1
    assert score.dtype == np.float32


def test_empty_gallery():
    g = Gallery.empty(128)
    assert len(g) == 0 and g.dim == 128
    idx, score = g.search(_unit([1] * 128))
    assert idx.tolist() == [NO_MATCH]
    assert score[0] == -np.inf


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embeddings": np.ones((1, 3), np.float32)}, "L2-normalised; row 0"),
        ({"embeddings": _unit([1, 0, 0]).astype(np.float64)}, "float32"),
        ({"subject_ids": np.zeros(5, np.int64)}, r"subject_ids: expected shape \(1,\)"),
        ({"subject_names": ()}, "subject_names: expected 1"),
    ],
)
def test_invalid_gallery(kwargs, message):
    base = dict(
        embeddings=_unit([1, 0, 0]),
        subject_ids=np.zeros(1, np.int64),
        subject_names=("a",),
        watchlist_ids=np.zeros(1, np.int64),
    )
    base.update(kwargs)
    with pytest.raises(GalleryError, match=message):
        Gallery(**base)


def test_query_must_match_dim_and_be_unit():
    g = _gallery()
    with pytest.raises(GalleryError, match=r"\(Q, 3\)"):
        g.search(np.ones((1, 4), np.float32))
    with pytest.raises(GalleryError, match=r"norm 2\.0"):
        g.search(np.array([[2, 0, 0]], np.float32))


def test_gallery_matrix_is_read_only_but_callers_array_is_not():
    src = _unit([1, 0, 0])
    g = Gallery(src, np.zeros(1, np.int64), ("a",), np.zeros(1, np.int64))
    with pytest.raises(ValueError):
        g.embeddings[0, 0] = 0.5
    src[0, 0] = 1.0  # still writable
