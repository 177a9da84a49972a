"""STARK parameters and the arithmetic domains a proof of a given padded height lives on.

Mirrors `Stark::default()` of Triton VM v7.0.0 and its derived domains: trace, randomized trace,
quotient and FRI domain (value i of a domain is offset * generator^i, in natural order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvmpd.stages import field

AIR_TARGET_DEGREE = 4
NUM_QUOTIENT_SEGMENTS = 4
NUM_OUT_OF_DOMAIN_ROWS = 2
EXTENSION_DEGREE = 3
FRI_OFFSET = 7  # BFieldElement::generator()
CLAIM_VERSION = 5  # CURRENT_VERSION of Triton VM v7.0.0
MAX_LOG2_PADDED_HEIGHT = 31  # the verifier rejects Log2PaddedHeight >= 32


@dataclass(frozen=True)
class StarkParams:
    """Security parameters; the defaults are `Stark::default()` = `Stark::new(160, 2)`."""

    security_level: int = 160
    log2_expansion_factor: int = 2

    @property
    def fri_expansion_factor(self) -> int:
        return 1 << self.log2_expansion_factor

    @property
    def num_collinearity_checks(self) -> int:
        return max(1, self.security_level // self.log2_expansion_factor)

    @property
    def num_trace_randomizers(self) -> int:
        # Enough randomness to hide the revealed rows, the out-of-domain rows and the quotient segments.
        return (self.num_collinearity_checks + NUM_OUT_OF_DOMAIN_ROWS * EXTENSION_DEGREE
                + NUM_QUOTIENT_SEGMENTS * EXTENSION_DEGREE)


@dataclass(frozen=True)
class Domain:
    """The coset offset * <generator> of a power-of-two length."""

    length: int
    offset: int
    generator: int

    def value(self, i: int) -> int:
        return self.offset * pow(self.generator, i, field.P) % field.P

    def values(self) -> np.ndarray:
        """All points, natural order, as uint64."""
        return field.mul(np.uint64(self.offset), powers(self.generator, self.length))

    def pow(self, k: int) -> Domain:
        """The domain of x^k for x in this domain (k a power of two dividing the length)."""
        if k <= 0 or self.length % k:
            raise ValueError(f"cannot raise a domain of length {self.length} to the power {k}")
        return Domain(self.length // k, pow(self.offset, k, field.P), pow(self.generator, k, field.P))


def of_length(length: int, offset: int = 1) -> Domain:
    """Domain of a power-of-two length with the reference's generator for it."""
    if length <= 0 or length & (length - 1):
        raise ValueError(f"domain length must be a power of two, got {length}")
    return Domain(length, offset % field.P, field.primitive_root(length))


def powers(base: int, n: int) -> np.ndarray:
    """[1, base, base^2, ..., base^(n-1)] as uint64, computed by doubling (log n vector multiplications)."""
    out = np.ones(n, dtype=np.uint64)
    if n > 1:
        out[1] = base % field.P
    filled = 2
    while filled < n:
        take = min(filled, n - filled)
        out[filled:filled + take] = field.mul(out[:take], np.uint64(pow(base, filled, field.P)))
        filled += take
    return out


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


@dataclass(frozen=True)
class ProverDomains:
    """Everything size-related for one padded height."""

    padded_height: int
    randomized_trace: Domain
    trace: Domain
    quotient: Domain
    fri: Domain
    max_degree: int
    num_fri_rounds: int
    fri_last_round_max_degree: int
    num_collinearity_checks: int
    num_trace_randomizers: int

    @property
    def interpolant_degree(self) -> int:
        return self.randomized_trace.length - 1


def derive(padded_height: int, params: StarkParams | None = None) -> ProverDomains:
    """Domains and FRI shape for a padded height, as the reference prover and verifier derive them."""
    params = params or StarkParams()
    if padded_height <= 0 or padded_height & (padded_height - 1):
        raise ValueError(f"padded height must be a power of two, got {padded_height}")
    randomized_len = next_power_of_two(padded_height + params.num_trace_randomizers)
    randomized = of_length(randomized_len)
    trace = randomized.pow(2)
    interpolant_degree = randomized_len - 1
    # The highest-degree bound comes from a degree-4 initial/terminal constraint (zerofier degree 1);
    # Triton VM v7.0.0 has such constraints, checked against params.json for every vector height.
    max_constraint_degree = AIR_TARGET_DEGREE * interpolant_degree - 1
    max_degree = next_power_of_two(max_constraint_degree) - 1
    fri_len = params.fri_expansion_factor * randomized_len
    fri = of_length(fri_len, FRI_OFFSET)
    quotient = of_length(next_power_of_two(max_degree), FRI_OFFSET)
    first_round_max_degree = fri_len // params.fri_expansion_factor - 1
    max_rounds = next_power_of_two(first_round_max_degree + 1).bit_length() - 1
    rounds = max(0, max_rounds - (params.num_collinearity_checks.bit_length() - 1 + 1))
    return ProverDomains(
        padded_height=padded_height,
        randomized_trace=randomized,
        trace=trace,
        quotient=quotient,
        fri=fri,
        max_degree=max_degree,
        num_fri_rounds=rounds,
        fri_last_round_max_degree=first_round_max_degree >> rounds,
        num_collinearity_checks=params.num_collinearity_checks,
        num_trace_randomizers=params.num_trace_randomizers,
    )
