import pytest

from bmbench import compare, suites
from bmbench.errors import BmbenchError


def _write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_shipped_suites_load_and_expand():
    for name in suites.list_suites():
        s = suites.load_suite(name)
        cases = s.cases()
        assert cases and len({c.case_id for c in cases}) == len(cases)


def test_shipped_suites_take_enough_samples_for_compare_to_reach_its_alpha():
    """Two runs of any shipped suite can be told apart at compare's default alpha: every case keeps
    at least MIN_SAMPLES samples whatever the time budget (pooled over its rounds)."""
    assert compare.smallest_p(4, 4) > compare.DEFAULT_ALPHA > compare.smallest_p(5, 5)  # hand-checked
    assert compare.MIN_SAMPLES == 5
    for name in suites.list_suites():
        s = suites.load_suite(name)
        for c in s.cases():
            floor = -(-c.min_repetitions // s.rounds) * s.rounds  # rounds split the minimum evenly
            assert compare.smallest_p(floor, floor) < compare.DEFAULT_ALPHA, (name, c.case_id, floor)


def test_matrix_expansion_and_overrides(tmp_path):
    p = _write(tmp_path, "name: t\nkind: probe\nmatrix:\n  kernel: [read, copy]\n  threads: [1, 2]\n")
    s = suites.load_suite(p)
    assert len(s.cases()) == 4
    only = s.cases({"threads": [1]})
    assert [c.params["threads"] for c in only] == [1, 1]
    with pytest.raises(BmbenchError, match="no parameter 'model'"):
        s.cases({"model": ["x"]})


@pytest.mark.parametrize("text,expect", [
    ("name: t\nkind: probe\nmatrix:\n  kernel: [read, scan]\n", r"s.yaml:4: matrix.kernel.1: expected one of"),
    ("name: t\nkind: probe\nrepetitions: five\n", r"s.yaml:3: repetitions: expected an integer"),
    ("name: t\nkind: probe\nmatrix:\n  colour: [red]\n", r"s.yaml:4: matrix.colour: unknown parameter"),
    ("name: t\nkind: nope\n", r"s.yaml:2: kind: unknown kind 'nope'"),
    ("name: t\nkind: probe\nmatrix:\n  threads: [0]\n", r"s.yaml:4: matrix.threads.0: threads must be"),
    ("name: t\nkind: probe\nmatrix:\n  flavour: [sse9]\n", r"s.yaml:4: matrix.flavour.0: unknown flavour"),
    ("name: t\nkind: probe\nmatrix:\n  kernel: read\n", r"s.yaml:4: matrix.kernel: expected a list"),
    ("name: t\nkind: probe\nmatrix: [1, 2\n", r"s.yaml:\d+: malformed YAML"),
    ("kind: probe\n", r"missing required key 'name'"),
    ("name: t\nkind: probe\nbogus: 1\n", r"s.yaml:3: bogus: unknown key"),
    ("name: t\ngroups:\n  - kind: probe\n    matrix: {threads: [x]}\n", r"s.yaml:4: groups.0.matrix.threads.0"),
])
def test_bad_suite_names_key_and_line(tmp_path, text, expect):
    with pytest.raises(BmbenchError, match=expect):
        suites.load_suite(_write(tmp_path, text))


def test_unknown_suite_name():
    with pytest.raises(BmbenchError, match="unknown suite 'nope'"):
        suites.load_suite("nope")
