"""Symmetry counts of symmetry-induced-critical-points.txt against brute-force enumeration."""

from fractions import Fraction
from collections import Counter
from itertools import product
from math import comb, factorial, prod

import pytest

from landscape_hpc.analysis.symmetry import G, R, R_total, T, bell, stirling2


def expansion_configurations(r: int, m: int, zero_type: bool) -> set[tuple]:
    """Distinct incoming-weight configurations of Def. 3.2 (with ``zero_type``) or Def. 4.1:
    neuron i carries teacher vector t (``("t", t)``), or a dummy vector shared by exactly the
    neurons of its zero-type group (``("z", group)``); dummy labels carry no identity."""
    labels = r + (m - r if zero_type else 0)
    configs = set()
    for f in product(range(labels), repeat=m):
        if set(range(r)) - set(f):
            continue
        groups = {lab: frozenset(i for i in range(m) if f[i] == lab) for lab in set(f) if lab >= r}
        configs.add(tuple(("t", lab) if lab < r else ("z", groups[lab]) for lab in f))
    return configs


@pytest.mark.parametrize("r,m", [(r, m) for m in range(1, 7) for r in range(1, m + 1)])
def test_counts_match_enumeration(r, m):
    assert G(r, m) == len(expansion_configurations(r, m, zero_type=False))
    assert T(r, m) == len(expansion_configurations(r, m, zero_type=True))


def test_paper_values():
    assert (G(3, 4), T(3, 4), T(2, 3), T(2, 5), T(4, 10)) == (36, 60, 12, 320, 20479560)
    assert T(3, 4) - G(3, 4) == 24        # Fig. 4c: 24 blue (a zero output weight), 36 green


def test_closed_forms():
    assert [bell(n) for n in range(8)] == [1, 1, 2, 5, 15, 52, 203, 877]
    assert stirling2(10, 4) == 34105
    for m in range(0, 12):
        for r in range(0, m + 3):
            assert G(r, m) == sum(comb(r, i) * (-1) ** (r - i) * i**m for i in range(r + 1))
        # Prop. 4.5: T = G + sum_u C(m,u) G(r,m-u) g(u), g(u) = sum_j G(j,u)/j!
        for r in range(1, m + 1):
            g = [sum(Fraction(G(j, u), factorial(j)) for j in range(1, u + 1))
                 for u in range(m + 1)]
            assert T(r, m) == G(r, m) + sum(comb(m, u) * G(r, m - u) * g[u]
                                            for u in range(1, m - r + 1))
    assert G(5, 5) == T(5, 5) == 120 and G(6, 5) == T(6, 5) == 0


def test_ratios():
    assert R(1, 3, 4) == Fraction(G(2, 4), 60) == Fraction(14, 60)
    assert R_total(3, 4) == Fraction(G(2, 4) + G(1, 4), 60)
    assert R_total(3, 4, {1: 2, 2: 0}) == 2 * R(1, 3, 4)
    # eq. 6 bound for a_k = 1 <= C(r*-1, k-1)
    for r_star, m in [(3, 10), (5, 12), (10, 40)]:
        assert R_total(r_star, m) <= Fraction(r_star - 1, r_star) ** m
    with pytest.raises(ValueError):
        R(3, 3, 4)


def printed_theorem_3_1(r: int, m: int) -> Fraction:
    """The sum as printed in Thm. 3.1: ordered tuples (k, b), divided by c_1! c_2! ... only."""
    total = Fraction(0)
    for j in range(m - r + 1):
        for s in product(range(1, m + 1), repeat=r + j):
            if sum(s) == m:
                c_b = prod(factorial(c) for c in Counter(s[r:]).values())
                total += Fraction(factorial(m), prod(factorial(x) for x in s) * c_b)
    return total


def test_printed_sum_overcounts():
    """Equal to T while zero-type groups cannot have unequal sizes (m - r <= 2), larger after."""
    for r, m in [(3, 4), (2, 3), (2, 4), (1, 3)]:
        assert printed_theorem_3_1(r, m) == T(r, m)
    assert (printed_theorem_3_1(2, 5), T(2, 5)) == (380, 320)
