"""The benchmarks' last line: a run with failed requests is printed, then refused."""

import io
import json

import pytest
from django.core.management import CommandError

from superapp import bench


def test_a_clean_run_prints_one_json_line():
    out = io.StringIO()
    bench.print_result(out, {"ratio": 0.5, "errors": 0, "feed_db_errors": 0})
    assert json.loads(out.getvalue().splitlines()[-1]) == {"ratio": 0.5, "errors": 0, "feed_db_errors": 0}


@pytest.mark.parametrize("key", ["errors", "feed_db_errors"])
def test_failed_requests_are_printed_then_refused(key):
    out = io.StringIO()
    with pytest.raises(CommandError, match=key):
        bench.print_result(out, {"ratio": 0.46, key: 6311})
    assert json.loads(out.getvalue().splitlines()[-1])[key] == 6311
