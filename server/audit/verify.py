"""Verifying the chain: the same code for the live table and for an exported file.

The walk goes through the entries in sequence order and checks each one: its hash must match
its content, its ``prev_hash`` the entry before it, its number the one after it. The first
entry that fails is classified by what explains the evidence:

- *modified*: its content no longer matches its hash (or its hash was recomputed and the next
  entry still links to the original);
- *deleted*: a number is missing, or the entry's content belongs to a later number;
- *inserted*: the entry after it links past it to its predecessor;
- *reordered*: its predecessor (by ``prev_hash``) appears later in the table;
- *truncated*: the chain head or a signed checkpoint names entries past the last one.

Signed checkpoints then bound what a rewrite of the whole tail (every later hash recomputed)
can hide: a checkpoint whose entry no longer carries the signed hash fails the verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from server.audit.canonical import GENESIS, checkpoint_message, entry_hash, entry_payload
from server.audit.signing import PublicKey

_MOVE_WINDOW = 64  # how far an entry's original number is looked for


@dataclass(frozen=True)
class EntryRecord:
    seq: int
    time: str
    actor: str
    action: str
    object_type: str
    object_id: str | None
    before_hash: str | None
    after_hash: str | None
    details: str
    prev_hash: str
    entry_hash: str

    def computed_hash(self, seq: int | None = None) -> str:
        return entry_hash(entry_payload(
            seq=self.seq if seq is None else seq, time=self.time, actor=self.actor,
            action=self.action, object_type=self.object_type, object_id=self.object_id,
            before_hash=self.before_hash, after_hash=self.after_hash, details=self.details,
            prev_hash=self.prev_hash))

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "actor": self.actor,
                "action": self.action, "object_type": self.object_type,
                "object_id": self.object_id, "before_hash": self.before_hash,
                "after_hash": self.after_hash, "details": self.details,
                "prev_hash": self.prev_hash, "entry_hash": self.entry_hash}


@dataclass(frozen=True)
class CheckpointRecord:
    seq: int
    entry_hash: str
    time: str
    key_id: str
    public_key: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "entry_hash": self.entry_hash, "time": self.time,
                "key_id": self.key_id, "public_key": self.public_key,
                "signature": self.signature}


@dataclass(frozen=True)
class Anchor:
    """Where a partial chain starts: the number and hash of the entry before its first."""

    seq: int
    entry_hash: str


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    message: str


@dataclass
class VerifyResult:
    entries_checked: int
    first_seq: int | None
    last_seq: int | None
    checkpoints_verified: int
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"FAILED at entry #{self.problem.seq} ({self.problem.kind}): " \
                   f"{self.problem.message}"
        span = f"#{self.first_seq}..#{self.last_seq}" if self.entries_checked else "no entries"
        return (f"OK: {self.entries_checked} entries ({span}) form an unbroken chain; "
                f"{self.checkpoints_verified} signed checkpoint(s) verified")


def _original_seq(entry: EntryRecord) -> int | None:
    """The number an entry had when it was hashed, if it was moved a short way."""
    for delta in range(1, _MOVE_WINDOW + 1):
        for candidate in (entry.seq + delta, entry.seq - delta):
            if candidate > 0 and entry.computed_hash(candidate) == entry.entry_hash:
                return candidate
    return None


def _classify(entries: Sequence[EntryRecord], i: int, prev_seq: int, prev_hash: str,
              before_prev_hash: str | None, positions: dict[str, int]) -> Problem | None:
    """The problem at position ``i`` (or just before it), or None when it is sound."""
    e = entries[i]
    expected = prev_seq + 1
    hash_ok = e.computed_hash() == e.entry_hash
    link_ok = e.prev_hash == prev_hash
    if e.seq == expected and hash_ok and link_ok:
        return None
    if e.seq < expected:
        return Problem(e.seq, "reordered", f"entry #{e.seq} appears after #{prev_seq}")
    later = positions.get(e.prev_hash)
    if not link_ok and later is not None and later > i:
        return Problem(e.seq, "reordered",
                       f"entry #{e.seq} follows entry #{entries[later].seq}, which appears "
                       "later in the log: entries were reordered")
    nxt = entries[i + 1] if i + 1 < len(entries) else None
    if e.seq == expected and nxt is not None and nxt.prev_hash == prev_hash \
            and nxt.computed_hash(expected) == nxt.entry_hash:
        return Problem(expected, "inserted",
                       f"entry #{expected} was inserted: the entry after it was written as "
                       f"#{expected} and links to #{prev_seq}")
    if before_prev_hash is not None and e.prev_hash == before_prev_hash:
        return Problem(prev_seq, "inserted",
                       f"entry #{prev_seq} was inserted: entry #{e.seq} links past it to the "
                       "entry before it")
    if e.seq > expected:
        missing = f"#{expected}" if e.seq == expected + 1 else f"#{expected}..#{e.seq - 1}"
        return Problem(expected, "deleted", f"entry {missing} is missing (deleted)")
    if not hash_ok:
        original = _original_seq(e)
        if original is not None and original > e.seq:
            return Problem(e.seq, "deleted",
                           f"entry #{e.seq} is missing (deleted): the entry now numbered "
                           f"#{e.seq} was written as #{original}")
        if original is not None and original < e.seq:
            return Problem(original, "inserted",
                           f"an entry was inserted before #{original}: it now appears as "
                           f"#{e.seq}")
        return Problem(e.seq, "modified",
                       f"entry #{e.seq} was modified: its content no longer matches its hash")
    # Its own hash is consistent but it does not link to its predecessor.
    if prev_seq > 0:
        return Problem(prev_seq, "modified",
                       f"entry #{prev_seq} was modified: its hash was recomputed, and entry "
                       f"#{e.seq} still links to the original")
    return Problem(e.seq, "modified",
                   f"entry #{e.seq} does not link to the start of the verified range")


def _walk(ordered: Sequence[EntryRecord], start: Anchor) -> tuple[Problem | None, Anchor]:
    """The first broken link, and the last entry reached before it."""
    positions = {e.entry_hash: i for i, e in enumerate(ordered)}
    prev_seq, prev_hash, before_prev = start.seq, start.entry_hash, None
    for i, e in enumerate(ordered):
        problem = _classify(ordered, i, prev_seq, prev_hash, before_prev, positions)
        if problem is not None:
            return problem, Anchor(prev_seq, prev_hash)
        prev_seq, before_prev, prev_hash = e.seq, prev_hash, e.entry_hash
    return None, Anchor(prev_seq, prev_hash)


def _check_checkpoints(
    result: VerifyResult, ordered: Sequence[EntryRecord],
    checkpoints: Sequence[CheckpointRecord], public_keys: Sequence[PublicKey], start: Anchor,
    chain_problem: Problem | None, open_ended: bool,
) -> tuple[list[Problem], int]:
    """Problems the signed checkpoints reveal; and the last entry they cover."""
    problems: list[Problem] = []
    by_seq = {e.seq: e for e in ordered}
    trusted = {k.key_id: k for k in public_keys}
    if not trusted and checkpoints:
        result.warnings.append("no public key given: checkpoint signatures were not checked")
    covered_to = start.seq
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        key = trusted.get(cp.key_id)
        if key is None:
            if trusted:
                result.warnings.append(f"checkpoint #{cp.seq} is signed by key {cp.key_id}, "
                                       "which is not among the public keys given")
            continue
        if not key.verify(cp.signature, checkpoint_message(cp.seq, cp.entry_hash, cp.time)):
            problems.append(Problem(cp.seq, "bad-signature",
                                    f"the signature of checkpoint #{cp.seq} is invalid"))
            continue
        # A break the walk already found before a checkpoint explains its mismatch.
        explained = chain_problem is not None and chain_problem.seq <= cp.seq
        entry = by_seq.get(cp.seq)
        if entry is None:
            if cp.seq > (result.last_seq or 0) and open_ended and not explained:
                problems.append(Problem((result.last_seq or start.seq) + 1, "truncated",
                                        f"checkpoint #{cp.seq} signs an entry past the last "
                                        f"one (#{result.last_seq}): the log was truncated"))
            continue
        if entry.entry_hash != cp.entry_hash:
            if not explained:
                first = covered_to + 1
                problems.append(Problem(first, "modified",
                                        f"the log was rewritten between #{first} and "
                                        f"#{cp.seq}: entry #{cp.seq} no longer has the hash "
                                        f"checkpoint #{cp.seq} signed"))
            continue
        result.checkpoints_verified += 1
        covered_to = max(covered_to, cp.seq)
    return problems, covered_to


def _check_head(head: Anchor, last: Anchor) -> Problem | None:
    if head.seq > last.seq:
        return Problem(last.seq + 1, "truncated",
                       f"entries #{last.seq + 1}..#{head.seq} are missing: the chain head is "
                       f"#{head.seq} (the log was truncated)")
    if head.seq < last.seq:
        return Problem(head.seq + 1, "inserted",
                       f"entry #{head.seq + 1} was inserted after the chain head #{head.seq}")
    if head.entry_hash != last.entry_hash:
        return Problem(last.seq, "modified",
                       f"entry #{last.seq} does not carry the chain head's hash")
    return None


def verify_chain(
    entries: Sequence[EntryRecord], checkpoints: Sequence[CheckpointRecord],
    public_keys: Sequence[PublicKey], *, anchor: Anchor | None = None,
    head: Anchor | None = None,
) -> VerifyResult:
    """Verify ``entries`` (in stored order) against checkpoints and the chain head.

    ``anchor`` starts a partial chain; ``head`` (the live head, or the one an export recorded)
    is given only when ``entries`` run to the end of the log.
    """
    ordered = sorted(entries, key=lambda e: e.seq)
    start = anchor or Anchor(0, GENESIS)
    result = VerifyResult(len(ordered), ordered[0].seq if ordered else None,
                          ordered[-1].seq if ordered else None, 0)
    problems: list[Problem] = []
    misplaced = [a.seq for a, b in zip(entries, ordered, strict=True) if a.seq != b.seq]
    if misplaced:
        problems.append(Problem(misplaced[0], "reordered",
                                "entries are not stored in sequence order"))
    chain_problem, last = _walk(ordered, start)
    if chain_problem is not None:
        problems.append(chain_problem)
    found, covered_to = _check_checkpoints(result, ordered, checkpoints, public_keys, start,
                                           chain_problem, head is not None)
    problems += found
    if head is not None and not problems:
        head_problem = _check_head(head, last)
        if head_problem is not None:
            problems.append(head_problem)
    if problems:
        result.problem = min(problems, key=lambda p: p.seq)
    elif public_keys and result.last_seq is not None and covered_to < result.last_seq:
        result.warnings.append(f"entries #{covered_to + 1}..#{result.last_seq} are chained but "
                               "not yet covered by a signed checkpoint")
    return result
