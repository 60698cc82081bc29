#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Take one hook patch's calls into the controller out of the working tree.

Usage: hook_mutate.py TREE PATCH

For every line PATCH adds, each call of a dev_cgroup_*() function that starts
on it is replaced by what the code would do without the controller: a call
used as a statement is dropped; a call whose value is used becomes the value
that means "nothing to account" (0: charged, room, no region, no css), or,
for dev_cgroup_evict_valuable(), 1 (evict as TTM would). The arguments are
still evaluated, in a statement expression, so that no variable the patch
declares for the call goes unused (the kernel builds with -Werror). Struct fields,
includes and comments stay, so the tree still builds. Files are replaced,
never written through: the tree's files may be hard links to the pristine
copy. Prints one line per call taken out; exits 1 if there was none.
"""

import os
import re
import sys

CALL = re.compile(r"\bdev_cgroup_\w+\s*\(")
# Without the controller, TTM's eviction walk evicts every candidate.
VALUE_WITHOUT_CONTROLLER = {"dev_cgroup_evict_valuable": "1"}


def added_lines(patch_text):
    """{path: set of 1-based line numbers in the patched file that the patch adds}."""
    added, path, line = {}, None, 0
    for raw in patch_text.splitlines():
        if raw.startswith("+++ "):
            path = raw[4:].split("\t")[0]
            path = path[2:] if path.startswith("b/") else path
            added.setdefault(path, set())
        elif raw.startswith("@@"):
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", raw)
            line = int(m.group(1))
        elif path is None or raw.startswith("--- ") or raw.startswith("diff "):
            continue
        elif raw.startswith("+"):
            added[path].add(line)
            line += 1
        elif raw.startswith(" "):
            line += 1
    return added


def call_end(text, open_paren):
    """Index just past the parenthesis closing the one at `open_paren`."""
    depth = 0
    for i in range(open_paren, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced call")


def top_level_args(inner):
    """The arguments of a call, split at the commas outside any brackets."""
    args, depth, current = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        args.append(current.strip())
    return args


def without_call(call, value):
    """A GNU statement expression that evaluates the call's arguments (so
    that no variable becomes unused) and gives `value`, if any."""
    inner = call[call.index("(") + 1 : -1]
    parts = [f"(void)({arg});" for arg in top_level_args(inner)]
    if value is not None:
        parts.append(f"{value};")
    return "({ " + " ".join(parts) + " })"


def mutate(text, lines):
    """Returns the new text and a description of each call taken out."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    edits, taken = [], []
    for number in sorted(lines):
        begin = starts[number - 1]
        end = starts[number] if number < len(starts) else len(text)
        line = text[begin:end]
        stripped = line.lstrip()
        if stripped.startswith(("*", "/*", "//", "#")):
            continue
        for m in CALL.finditer(line):
            start = begin + m.start()
            stop = call_end(text, begin + m.end() - 1)
            name = m.group(0).rstrip("( \t")
            before = text[begin:start].strip()
            after = text[stop:].lstrip()
            call = text[start:stop]
            if before == "" and after.startswith(";"):
                # A statement of its own: only its arguments are evaluated.
                edits.append((start, stop, without_call(call, None)))
                taken.append(f"{number}: {name}() dropped")
            else:
                value = VALUE_WITHOUT_CONTROLLER.get(name, "0")
                edits.append((start, stop, without_call(call, value)))
                taken.append(f"{number}: {name}() -> {value}")
    for start, stop, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[stop:]
    return text, taken


def main():
    tree, patch = sys.argv[1], sys.argv[2]
    with open(patch) as f:
        added = added_lines(f.read())
    total = 0
    for path, lines in sorted(added.items()):
        full = os.path.join(tree, path)
        with open(full) as f:
            text = f.read()
        new, taken = mutate(text, lines)
        if not taken:
            continue
        tmp = full + ".devcg-mutant"
        with open(tmp, "w") as f:
            f.write(new)
        os.replace(tmp, full)
        for t in taken:
            print(f"{path}:{t}")
        total += len(taken)
    sys.exit(0 if total else 1)


if __name__ == "__main__":
    main()
