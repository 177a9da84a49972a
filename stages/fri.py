"""FRI as Triton VM v7.0.0 runs it: commit, fold by 2 per round, last codeword + polynomial, queries.

Prover and verifier both act on a ProofStream so their Fiat-Shamir transcripts stay in lock step.
Codewords are (n, 3) uint64 arrays of extension-field elements in domain order; a Merkle leaf is the
element itself padded to a digest, [c0, c1, c2, 0, 0].
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field, merkle, ntt, xfield
from tvmpd.stages.domains import Domain
from tvmpd.stages.proof import ProofItem
from tvmpd.stages.proof_stream import ProofStream

_TWO_INV = field.inv_int(2)


class FriError(ValueError):
    """A FRI proof that does not verify, with the reason."""


def leaf_digests(codeword: np.ndarray) -> np.ndarray:
    """Merkle leaves of a codeword: each element as the digest [c0, c1, c2, 0, 0]."""
    out = np.zeros((len(codeword), 5), dtype=np.uint64)
    out[:, :3] = codeword
    return out


def fold(codeword: np.ndarray, domain: Domain, challenge: np.ndarray) -> np.ndarray:
    """Split-and-fold: new[i] = ((1 + c/x_i) f[i] + (1 - c/x_i) f[i + n/2]) / 2 for the first half's x_i."""
    half = len(codeword) // 2
    x_inv = field.batch_inv(domain.values()[:half])
    scaled = xfield.mul_base(np.broadcast_to(challenge, (half, 3)), x_inv)
    one = xfield.lift(np.ones(half, dtype=np.uint64))
    left = xfield.mul(xfield.add(one, scaled), codeword[:half])
    right = xfield.mul(xfield.sub(one, scaled), codeword[half:])
    return xfield.mul_base(xfield.add(left, right), np.uint64(_TWO_INV))


def interpolate_plain(codeword: np.ndarray) -> np.ndarray:
    """Coefficients (low first) of the polynomial taking these values on the subgroup of their length."""
    return ntt.intt(codeword)


def horner(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Value at the extension-field point x of a polynomial with (k, 3) coefficients."""
    acc = np.zeros(3, dtype=np.uint64)
    for c in coefficients[::-1]:
        acc = xfield.add(xfield.mul(acc, x), c)
    return acc


class HostRounds:
    """FRI round operations on host arrays: the reference for every other engine (see `prove`)."""

    def tree(self, codeword: np.ndarray) -> np.ndarray:
        return merkle.build_tree(leaf_digests(codeword))

    def root(self, tree: np.ndarray) -> np.ndarray:
        return tree[1].copy()

    def fold(self, codeword: np.ndarray, domain: Domain, challenge: np.ndarray) -> np.ndarray:
        return fold(codeword, domain, challenge)

    def to_host(self, codeword: np.ndarray) -> np.ndarray:
        return codeword

    def auth(self, tree: np.ndarray, indices: list[int]) -> np.ndarray:
        return merkle.auth_structure(tree, indices)

    def values(self, codeword: np.ndarray, indices: list[int]) -> np.ndarray:
        return codeword[indices]


def prove(codeword, domain: Domain, num_rounds: int, num_checks: int, stream: ProofStream,
          rounds=None) -> list[int]:
    """Run the FRI prover on a codeword over `domain`; returns the first round's query indices.

    rounds: the object doing trees, folds and openings (default HostRounds on (n, 3) numpy codewords;
    a device engine keeps codewords and trees on its device).
    """
    rounds = rounds or HostRounds()
    codewords = [codeword]
    domains = [domain]
    trees = [rounds.tree(codeword)]
    stream.enqueue(ProofItem("MerkleRoot", rounds.root(trees[0])))
    for _ in range(num_rounds):
        challenge = stream.sample_scalars(1)[0]
        codewords.append(rounds.fold(codewords[-1], domains[-1], challenge))
        domains.append(domains[-1].pow(2))
        trees.append(rounds.tree(codewords[-1]))
        stream.enqueue(ProofItem("MerkleRoot", rounds.root(trees[-1])))
    last = rounds.to_host(codewords[-1])
    stream.enqueue(ProofItem("FriCodeword", last))
    stream.enqueue(ProofItem("FriPolynomial", interpolate_plain(last)))

    a_indices = stream.sample_indices(domain.length, num_checks)
    _reveal(stream, rounds, trees[0], codewords[0], a_indices)
    for r in range(num_rounds):
        n = domains[r].length
        _reveal(stream, rounds, trees[r], codewords[r], [(a + n // 2) % n for a in a_indices])
    stream.sample_scalars(1)  # the verifier's low-degree test point; the prover must advance the sponge too
    return a_indices


def _reveal(stream: ProofStream, rounds, tree, codeword, indices: list[int]) -> None:
    stream.enqueue(ProofItem("FriResponse", (rounds.auth(tree, indices), rounds.values(codeword, indices))))


def verify(stream: ProofStream, domain: Domain, num_rounds: int, num_checks: int,
           last_round_max_degree: int) -> tuple[list[int], np.ndarray]:
    """Verify the FRI part of a proof; returns the first round's query indices and revealed values.

    Raises FriError if any check fails.
    """
    roots, challenges = [], []
    for r in range(num_rounds + 1):
        roots.append(stream.dequeue("MerkleRoot").payload)
        if r < num_rounds:
            challenges.append(stream.sample_scalars(1)[0])
    last_codeword = stream.dequeue("FriCodeword").payload
    last_polynomial = stream.dequeue("FriPolynomial").payload

    a_indices = stream.sample_indices(domain.length, num_checks)
    domains = [domain]
    for _ in range(num_rounds):
        domains.append(domains[-1].pow(2))

    revealed_a = _receive(stream, roots[0], domains[0], a_indices, num_checks)
    revealed_b = []
    for r in range(num_rounds):
        n = domains[r].length
        revealed_b.append(_receive(stream, roots[r], domains[r], [(a + n // 2) % n for a in a_indices],
                                   num_checks))

    values = revealed_a
    for r in range(num_rounds):
        n = domains[r].length
        xa = np.array([domains[r].value(a % n) for a in a_indices], dtype=np.uint64)
        values = _collinear_y(xa, values, revealed_b[r], challenges[r])

    last = domains[-1]
    if len(last_codeword) != last.length:
        raise FriError(f"last codeword has {len(last_codeword)} elements, expected {last.length}")
    if not np.array_equal(merkle.build_tree(leaf_digests(last_codeword))[1], roots[-1]):
        raise FriError("last codeword does not match the last round's Merkle root")
    if not np.array_equal(last_codeword[[a % last.length for a in a_indices]], values):
        raise FriError("last codeword disagrees with the folded revealed values")
    if len(last_polynomial) - 1 > last_round_max_degree:
        raise FriError(f"last polynomial has degree {len(last_polynomial) - 1} > {last_round_max_degree}")
    point = stream.sample_scalars(1)[0]
    if not np.array_equal(horner(last_polynomial, point), horner(interpolate_plain(last_codeword), point)):
        raise FriError("last polynomial does not match the last codeword")
    return a_indices, revealed_a


def _receive(stream: ProofStream, root: np.ndarray, domain: Domain, indices: list[int],
             num_checks: int) -> np.ndarray:
    auth, leaves = stream.dequeue("FriResponse").payload
    if len(leaves) != num_checks:
        raise FriError(f"FRI response reveals {len(leaves)} leaves, expected {num_checks}")
    height = domain.length.bit_length() - 1
    if not merkle.verify(root, height, indices, leaf_digests(leaves), auth):
        raise FriError("bad Merkle authentication of revealed FRI leaves")
    return leaves


def _collinear_y(xa: np.ndarray, ya: np.ndarray, yb: np.ndarray, challenge: np.ndarray) -> np.ndarray:
    """Value at `challenge` of the line through (xa, ya) and (-xa, yb): the fold of one query pair."""
    # Line through (x, a) and (-x, b): y(c) = (a + b)/2 + c (a - b) / (2x).
    inv_2x = field.batch_inv(field.add(xa, xa))
    mean = xfield.mul_base(xfield.add(ya, yb), np.uint64(_TWO_INV))
    slope = xfield.mul_base(xfield.sub(ya, yb), inv_2x)
    return xfield.add(mean, xfield.mul(slope, np.broadcast_to(challenge, slope.shape)))
