"""Longest test files first, so that pytest-xdist's workers (``./test.sh`` runs one a
core, a file to a worker) do not end on one long file while the other core idles."""

#: Files that take minutes, longest first (measured with ``--durations``).
LONGEST_FIRST = ("test_top_rtl.py", "test_rtl_vs_analytic.py", "test_top_amaranth.py",
                 "test_synth.py", "test_array_rtl.py", "test_table2_rtl.py",
                 "test_differential.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)       # stable: each file's own order is kept
