import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.evaluate import (
    coverage,
    evaluate,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from recommender.ml.models import PopularityModel

# One user, k=3, recommended [5, 1, 7], relevant {1, 7, 9, 4}: hits at positions 1 and 2
# (0-based).
REC = [[5, 1, 7]]
REL = [{1, 7, 9, 4}]


def test_precision_hand_worked():
    # 2 hits / k=3
    assert precision_at_k(REC, REL, k=3) == pytest.approx(2 / 3)


def test_precision_divides_by_k_even_for_short_lists():
    # [1] padded to k=3: 1 hit / 3
    assert precision_at_k([[1]], [{1}], k=3) == pytest.approx(1 / 3)


def test_recall_hand_worked():
    # 2 hits / |rel|=4
    assert recall_at_k(REC, REL, k=3) == pytest.approx(0.5)


def test_ndcg_hand_worked():
    # DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093
    # IDCG = min(k,|rel|)=3 hits on top = 1 + 0.63093 + 0.5 = 2.13093
    assert ndcg_at_k(REC, REL, k=3) == pytest.approx(1.1309298 / 2.1309298, rel=1e-6)


def test_ndcg_perfect_and_idcg_uses_min_k_rel():
    # Only 1 relevant item, ranked first: DCG = IDCG = 1 -> 1.0 even though k=3.
    assert ndcg_at_k([[4, 2, 3]], [{4}], k=3) == pytest.approx(1.0)


def test_map_hand_worked():
    # precision@2 = 1/2 at the first hit, precision@3 = 2/3 at the second;
    # AP = (1/2 + 2/3) / min(3, 4) = 1.1667 / 3 = 0.38889
    assert map_at_k(REC, REL, k=3) == pytest.approx((0.5 + 2 / 3) / 3)


def test_map_normalised_by_min_k_rel():
    # rel={2}, hit at position 0: AP = 1/1 / min(3,1) = 1.0
    assert map_at_k([[2, 8, 9]], [{2}], k=3) == pytest.approx(1.0)


def test_hit_rate_and_averaging_skips_users_without_relevant_items():
    # user 0: hit; user 1: miss; user 2: no relevant items -> ignored. hit rate = 1/2.
    rec = [[1, 2], [3, 4], [5, 6]]
    rel = [{2}, {9}, set()]
    assert hit_rate_at_k(rec, rel, k=2) == pytest.approx(0.5)
    # precision: user0 1/2, user1 0 -> 0.25
    assert precision_at_k(rec, rel, k=2) == pytest.approx(0.25)


def test_padding_is_never_a_hit():
    assert precision_at_k([[-1, -1]], [{-1, 3}], k=2) == 0.0


def test_relevant_as_csr():
    rel = sp.csr_matrix(np.array([[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]], dtype=np.float32))
    m = ranking_metrics([[3, 0]], rel, k=2)
    # hit at position 0 only; recall 1/2; ndcg = 1 / (1 + 1/log2(3)) = 0.61315
    assert m["recall"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx(1 / (1 + 1 / np.log2(3)))


def test_coverage_hand_worked():
    # distinct {0, 1, 3} (ignoring -1 padding) out of 6 items = 0.5
    assert coverage([[0, 1], [1, 3], [3, -1]], n_items=6) == pytest.approx(0.5)


def test_evaluate_popularity_on_hand_checked_matrix():
    # 3 users x 4 items. Popularity (distinct users): item0=2, item1=1, item2=1, item3=0.
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=np.float32))
    model = PopularityModel().fit(train)
    out = evaluate(model, train, test, k=1)
    # top-1 after filtering: user0 -> item1 (tie with item2 broken by lower row) hit,
    # user1 -> item2 miss, user2 -> item0 hit.  precision = 2/3, coverage = 3/4.
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["coverage"] == pytest.approx(3 / 4)
    assert out["n_users"] == 3


def test_sparse_and_set_inputs_agree():
    rng = np.random.default_rng(0)
    rel = sp.random(30, 50, density=0.1, random_state=2, format="csr", dtype=np.float32)
    rec = rng.integers(-1, 50, size=(30, 10))
    sets = [set(rel[i].indices.tolist()) for i in range(30)]
    a = ranking_metrics(rec, rel, k=10)
    b = ranking_metrics(rec, sets, k=10)
    assert a == pytest.approx(b)


def test_popularity_head_shortcut_matches_full_ranking():
    # The fast path ranks only the head of the popularity list; it must equal a full sort.
    m = sp.random(60, 40, density=0.3, random_state=5, format="csr", dtype=np.float32)
    model = PopularityModel().fit(m)
    ids, _ = model.recommend(np.arange(60), m, k=5)
    order = np.lexsort((np.arange(40), -model.popularity))
    for u in range(60):
        expected = [i for i in order if i not in set(m[u].indices)][:5]
        assert ids[u].tolist() == expected
