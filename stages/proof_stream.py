"""The Fiat-Shamir proof stream: items in order, and a Tip5 sponge that absorbs the ones marked for it.

The prover enqueues items and samples challenges; the verifier dequeues the same items from a decoded
proof and replays the same absorptions, so both sample identical challenges.
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages.proof import ProofFormatError, ProofItem, decode_proof, encode_item, encode_proof
from tvmpd.stages.tip5 import Sponge


class ProofStream:
    """Items plus the Fiat-Shamir sponge (variable-length domain, all-zero start state)."""

    def __init__(self) -> None:
        self.items: list[ProofItem] = []
        self.sponge = Sponge()
        self._next = 0

    def absorb(self, elements: list[int]) -> None:
        """Alter the Fiat-Shamir state with an encoding (pad and absorb all of it)."""
        self.sponge.pad_and_absorb_all([int(x) for x in elements])

    def enqueue(self, item: ProofItem) -> None:
        """Append an item, absorbing its encoding first if its kind takes part in Fiat-Shamir."""
        if item.in_fiat_shamir:
            self.absorb(encode_item(item))
        self.items.append(item)

    def dequeue(self, kind: str) -> ProofItem:
        """Next item of a proof being verified; absorbs it like the prover did. ProofFormatError if absent."""
        if self._next >= len(self.items):
            raise ProofFormatError(f"proof ended, expected {kind}")
        item = self.items[self._next]
        if item.kind != kind:
            raise ProofFormatError(f"proof item {self._next} is {item.kind}, expected {kind}")
        self._next += 1
        if item.in_fiat_shamir:
            self.absorb(encode_item(item))
        return item

    def sample_scalars(self, n: int) -> np.ndarray:
        """n extension-field challenges, (n, 3)."""
        return self.sponge.sample_scalars(n)

    def sample_indices(self, upper_bound: int, n: int) -> list[int]:
        """n indices below a power-of-two bound (repetitions possible)."""
        return self.sponge.sample_indices(upper_bound, n)

    def to_proof(self) -> np.ndarray:
        """The proof's field elements."""
        return encode_proof(self.items)

    @classmethod
    def from_proof(cls, elements: np.ndarray) -> ProofStream:
        """A stream positioned at the first item of a proof, with a fresh sponge."""
        stream = cls()
        stream.items = decode_proof(elements)
        return stream

    def fully_consumed(self) -> bool:
        return self._next == len(self.items)
