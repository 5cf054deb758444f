"""Arithmetic coding of symbols under given probabilities (Witten, Neal & Cleary 1987), the
entropy coder behind a VQ-VAE's compressed files: each code index costs about -log2 p bits
under the PixelCNN prior instead of log2 K.

Probabilities become integer frequencies (``frequencies``), every symbol at least 1 so any
index stays codable; the coder works on 32-bit integers, so encoding and decoding agree exactly
given the same frequency table. The tables come from a network, so a file decodes where the
network computes the same numbers (the same machine and torch build); the caller checks a digest
of the decoded symbols.
"""

from __future__ import annotations

import numpy as np
import torch

PRECISION = 32
FULL = (1 << PRECISION) - 1
HALF = 1 << (PRECISION - 1)
QUARTER = 1 << (PRECISION - 2)
TOTAL = 1 << 16  # frequency resolution: the smallest codable probability is 2^-16


def frequencies(probs: torch.Tensor) -> np.ndarray:
    """Probabilities (M, K) -> cumulative integer frequencies (M, K + 1), int64, each row from 0
    to its total (< 2^17), every symbol getting at least 1."""
    k = probs.shape[1]
    freq = torch.floor(probs.double() * (TOTAL - k)).long() + 1
    cum = torch.zeros((probs.shape[0], k + 1), dtype=torch.int64)
    cum[:, 1:] = freq.cumsum(1)
    return cum.numpy()


class Encoder:
    """Symbols in, bits out: ``encode`` each symbol with its row of cumulative frequencies, then
    ``finish`` for the bytes."""

    def __init__(self):
        self.low, self.high, self.pending = 0, FULL, 0
        self.bits: list[int] = []

    def _emit(self, bit: int) -> None:
        self.bits.append(bit)
        self.bits.extend([1 - bit] * self.pending)
        self.pending = 0

    def encode(self, symbol: int, cum: np.ndarray) -> None:
        span = self.high - self.low + 1
        total = int(cum[-1])
        self.high = self.low + span * int(cum[symbol + 1]) // total - 1
        self.low = self.low + span * int(cum[symbol]) // total
        while True:
            if self.high < HALF:
                self._emit(0)
            elif self.low >= HALF:
                self._emit(1)
                self.low -= HALF
                self.high -= HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:
                self.pending += 1
                self.low -= QUARTER
                self.high -= QUARTER
            else:
                break
            self.low, self.high = 2 * self.low, 2 * self.high + 1

    def finish(self) -> bytes:
        self.pending += 1
        self._emit(0 if self.low < QUARTER else 1)
        return np.packbits(np.array(self.bits, dtype=np.uint8)).tobytes()


class Decoder:
    """The inverse of ``Encoder``: ``decode`` with the same rows of frequencies, in order."""

    def __init__(self, payload: bytes):
        self.bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        self.pos = 0
        self.low, self.high, self.value = 0, FULL, 0
        for _ in range(PRECISION):
            self.value = 2 * self.value + self._bit()

    def _bit(self) -> int:
        bit = int(self.bits[self.pos]) if self.pos < len(self.bits) else 0  # past the end: zeros
        self.pos += 1
        return bit

    def decode(self, cum: np.ndarray) -> int:
        span = self.high - self.low + 1
        total = int(cum[-1])
        target = ((self.value - self.low + 1) * total - 1) // span
        symbol = int(np.searchsorted(cum, target, side="right")) - 1
        self.high = self.low + span * int(cum[symbol + 1]) // total - 1
        self.low = self.low + span * int(cum[symbol]) // total
        while True:
            if self.high < HALF:
                pass
            elif self.low >= HALF:
                self.low -= HALF
                self.high -= HALF
                self.value -= HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:
                self.low -= QUARTER
                self.high -= QUARTER
                self.value -= QUARTER
            else:
                break
            self.low, self.high = 2 * self.low, 2 * self.high + 1
            self.value = 2 * self.value + self._bit()
        return symbol
