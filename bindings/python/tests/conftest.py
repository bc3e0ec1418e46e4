"""Shared fixtures: the vector directories, and a tally printed at the end."""

import collections
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def vector_roots():
    """tests/vectors, then every directory of DISPATCH_EXTRA_VECTORS
    (`:`-separated, empty entries ignored, relative ones taken from the
    repository's root), as tests/vectors.rs takes them."""
    roots = [REPO / "tests" / "vectors"]
    for entry in os.environ.get("DISPATCH_EXTRA_VECTORS", "").split(os.pathsep):
        if entry:
            roots.append(REPO / entry)
    return roots


class Tally:
    """What the vector tests ran, per category, and what they could not apply."""

    def __init__(self):
        self.ran = collections.Counter()
        self.not_applicable = collections.Counter()
        self.notes = []
        # Set by a runner when the vector in hand cannot apply at all: it is
        # counted under not_applicable, not as run.
        self.vector_not_applicable = False

    def lines(self):
        out = [f"  {category}: {n}" for category, n in sorted(self.ran.items())]
        out += [f"  not applicable: {what}: {n}" for what, n in sorted(self.not_applicable.items())]
        out += [f"  {note}" for note in self.notes]
        out.append(
            # A name with a space is a further check on vectors counted under
            # their own category (a signed vector reproduced, say), as the
            # JavaScript harness counts them.
            f"vectors: {sum(n for c, n in self.ran.items() if ' ' not in c)} ran through the Python API, "
            f"{sum(self.not_applicable.values())} parts not applicable"
        )
        return out


TALLY = Tally()


@pytest.fixture(scope="session")
def tally():
    return TALLY


def pytest_terminal_summary(terminalreporter):
    if TALLY.ran:
        terminalreporter.section("dispatch vectors")
        for line in TALLY.lines():
            terminalreporter.write_line(line)
