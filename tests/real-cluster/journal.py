"""Reading a calico-downgrade journal (JSON lines) with every command's stdout whole.

A command whose argv ran before may keep its stdout as `stdout_delta`: edits of the stdout of
the previous entry with the same argv (a number n > 0 keeps that base's next n lines, n < 0
skips -n of them, a string is a line of its own, with its line end). `entries` applies them, so
callers (scripts/capture-fixture, the tier, scripts/bench-real) see each stdout as kubectl
printed it.
"""

import json


def apply(base, edits):
    """The text that `edits` make of `base` (src/exec/journal.rs, `apply`)."""
    parts = base.split("\n")  # lines end at "\n" only, as in Rust's split_inclusive
    old = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    out, i = [], 0
    for edit in edits:
        if isinstance(edit, str):
            out.append(edit)
        elif edit >= 0:
            if i + edit > len(old):
                raise ValueError("a stdout_delta reaches beyond its base")
            out.extend(old[i:i + edit])
            i += edit
        else:
            i -= edit
    return "".join(out)


def entries(path):
    """Every line of the journal at `path` as a dict (header and notes included), each
    command's `stdout` whole."""
    last = {}
    out = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            if "argv" in entry:
                key = tuple(entry["argv"])
                if "stdout_delta" in entry:
                    if key not in last:
                        raise ValueError(f"{path}: a stdout_delta with no earlier stdout of `{' '.join(key)}`")
                    entry["stdout"] = apply(last[key], entry["stdout_delta"])
                last[key] = entry.get("stdout", "")
            out.append(entry)
    return out
