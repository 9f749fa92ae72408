"""Symmetry counts of symmetry-induced-critical-points.txt (Sec. 3-4, App. B.5), exact integers.

An irreducible r-neuron point expands in a width-m network into affine subspaces (Def. 3.2):
each of the m neurons is a copy of one of the r neurons (every one used at least once) or belongs
to a group of zero-type neurons (a shared dummy input vector, output weights summing to zero);
zero-type groups are unlabelled.

- ``G(r, m)`` (Prop. 4.3/4.5): subspaces without zero-type neurons, the surjections of m neurons
  onto r, ``G(r, m) = r! S(m, r)``.
- ``T(r, m)`` (Thm. 3.1): all subspaces, ``T(r, m) = sum_u C(m, u) G(r, m - u) B_u`` where the
  u zero-type neurons form any set partition, counted by the Bell number
  ``B_u = sum_j G(j, u) / j!`` (Prop. 4.5's ``g(u)``, with ``B_0 = 1``).

The sum printed in Thm. 3.1 runs over ordered tuples (b_1, ..., b_j) of zero-type group sizes but
divides only by ``c_1! c_2! ...``; it overcounts (by the reorderings of unequal sizes).  The proof
(Lemma B.12, Prop. B.13) divides by ``j!``, which gives the closed form used here.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import comb, factorial


@lru_cache(maxsize=None)
def stirling2(n: int, k: int) -> int:
    """Stirling number of the second kind S(n, k): partitions of n items into k nonempty blocks."""
    if n < 0 or k < 0:
        raise ValueError(f"S(n, k) needs n, k >= 0, got ({n}, {k})")
    if n == k:
        return 1
    if n == 0 or k == 0 or k > n:
        return 0
    return k * stirling2(n - 1, k) + stirling2(n - 1, k - 1)


def bell(n: int) -> int:
    """Bell number B_n: all set partitions of n items (B_0 = 1)."""
    return sum(stirling2(n, k) for k in range(n + 1))


def G(r: int, m: int) -> int:
    """Symmetry-induced critical subspaces of an irreducible r-neuron point in width m:
    ``r! S(m, r)`` = ``sum_i C(r, i) (-1)^(r-i) i^m`` (0 for r > m)."""
    return factorial(r) * stirling2(m, r)


def T(r: int, m: int) -> int:
    """Affine subspaces of the expansion manifold of an irreducible r-neuron point in width m:
    ``sum_u C(m, u) r! S(m - u, r) B_u`` over u = 0..m-r zero-type neurons (0 for r > m)."""
    return sum(comb(m, u) * G(r, m - u) * bell(u) for u in range(m - r + 1))


def R(k: int, r_star: int, m: int) -> Fraction:
    """Ratio ``R_k(r*, m) = G(r* - k, m) / T(r*, m)`` (eq. 5): k-th level saddle subspaces per
    global-minimum subspace, exactly."""
    if not 0 <= k < r_star <= m:
        raise ValueError(f"R_k(r*, m) needs 0 <= k < r* <= m, got k={k}, r*={r_star}, m={m}")
    return Fraction(G(r_star - k, m), T(r_star, m))


def R_total(r_star: int, m: int, a: dict[int, int] | None = None) -> Fraction:
    """``sum_{k=1}^{r*-1} a_k R_k(r*, m)`` (eq. 6); ``a`` maps k to the number a_k of distinct
    irreducible critical points of width r* - k (all 1 when not given)."""
    a = a or {}
    return sum((a.get(k, 1) * R(k, r_star, m) for k in range(1, r_star)), Fraction(0))
