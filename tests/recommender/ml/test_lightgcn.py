import numpy as np
import pytest

from recommender.ml.lightgcn import load_lightgcn, run_protocol


def _write(directory, name, lines):
    (directory / f"{name}.txt").write_text("".join(" ".join(map(str, line)) + "\n" for line in lines))


def test_load_puts_the_three_files_in_one_index_space(tmp_path):
    _write(tmp_path, "train", [[0, 0, 1, 2], [1, 3], [2, 4, 4]])
    _write(tmp_path, "valid", [[0, 5], [2, 1]])
    _write(tmp_path, "test", [[0, 6], [1, 7, 0]])
    data = load_lightgcn(tmp_path)
    assert data.train.shape == data.valid.shape == data.test.shape == (3, 8)
    assert data.train[2].indices.tolist() == [4] and data.train[2].data.tolist() == [1.0]  # binary, deduplicated
    assert sorted(data.training_part[0].indices.tolist()) == [0, 1, 2, 5]
    assert data.test[1].indices.tolist() == [0, 7]


def test_missing_files_and_bad_lines_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.txt"):
        load_lightgcn(tmp_path)
    _write(tmp_path, "train", [[0, 1], ["x", 2]])
    _write(tmp_path, "test", [[0, 2]])
    with pytest.raises(ValueError, match="train.txt:2"):
        load_lightgcn(tmp_path)


def test_without_valid_the_pipeline_tunes_on_a_split_of_train(tmp_path):
    rng = np.random.default_rng(0)
    train, test = [], []
    for user in range(30):
        own = rng.permutation(np.arange(0, 10) if user % 2 else np.arange(10, 20))
        train.append([user, *own[:6]])
        test.append([user, *own[6:8]])
    _write(tmp_path, "train", train)
    _write(tmp_path, "test", test)
    data = load_lightgcn(tmp_path)
    assert data.valid is None
    rows, result = run_protocol(data, budget_s=15, max_trials=4, k=5, num_threads=1, baselines=False)
    assert [r["model"] for r in rows] == ["this project's pipeline, tuned"]
    assert rows[0]["recall"] > 0.5  # two clean taste groups
