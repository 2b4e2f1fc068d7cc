"""The bench table compares each growth workload between its two scales."""

from bench.run_all import growth


def result(scale: int, rows: list[tuple[str, float, str]]) -> dict:
    return {
        "scale": scale,
        "rows": [{"name": n, "figure": f, "unit": u, "load": "1.00"} for n, f, u in rows],
    }


def test_growth_pairs_each_workload_by_its_name_at_either_scale():
    small = result(
        100_000,
        [
            ("eligibility GET (gunicorn), server median", 0.8, "ms"),
            ("webhook POST (gunicorn), throughput", 900.0, "req/s"),
            ("verify_ledger --workers 1: 191,887 events", 2.0, "s"),
            ("import 100,000 rows (contact + legacy event + state)", 2000, "rows/s"),
        ],
    )
    big = result(
        1_000_000,
        [
            ("eligibility GET (gunicorn), server median", 0.9, "ms"),
            ("webhook POST (gunicorn), throughput", 600.0, "req/s"),
            ("verify_ledger --workers 1: 1,900,000 events", 25.0, "s"),
            ("import 1,000,000 rows (contact + legacy event + state)", 2000, "rows/s"),
        ],
    )

    found = {g["workload"]: g for g in growth(small, big)}

    assert set(found) == {
        "eligibility GET", "webhook POST", "verify_ledger, 1 worker", "import, the scale's file"
    }  # fmt: skip
    assert (found["eligibility GET"]["cost_growth"], found["eligibility GET"]["met"]) == (
        1.12,
        True,
    )
    # a rate falling by a third is a cost growing by half: flat enough for a request
    assert found["webhook POST"]["cost_growth"] == 1.5 and found["webhook POST"]["met"]
    # ten times the data, twelve and a half times the time: worse than linear
    assert found["verify_ledger, 1 worker"]["met"] is False
    assert found["import, the scale's file"]["cost_growth"] == 10.0
    assert found["import, the scale's file"]["met"] is True
