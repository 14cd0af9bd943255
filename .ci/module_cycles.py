#!/usr/bin/env python3
"""Finds import circles between sibling modules of each Rust crate in a Cargo workspace.

    python3 .ci/module_cycles.py [--with-tests] [WORKSPACE_DIR]     (default: the current directory)

Each crate's module tree is read from its root file (src/lib.rs, src/main.rs, src/bin/*.rs) through its `mod`
declarations (files and inline modules, `#[path]` included). A module depends on another when its code (or code
of a module inside it) names it: `use` declarations (`crate::`, `super::`, `self::` and paths through a child
module), and fully qualified `crate::…`, `super::…` and `self::…` paths anywhere in the code. A name re-exported
by a module (`pub use inner::Thing`, or any `use` that brings a name into scope) is followed to the module that
defines it, so `super::Thing` counts as a dependency on `inner`.

A dependency of module `a::b::x` on `a::c::y` is a dependency of `b` on `c`: the two children of their common
ancestor `a`. Dependencies on an ancestor or a descendant do not count. Where siblings depend on each other,
directly or through a chain, they form a circle: each is printed with one place in the code for every
dependency inside it. Comments and string literals are not read. Modules under `#[cfg(test)]` are left out
(a test may use any module); `--with-tests` reads them too.

Exit status: 0 no circle, 1 circles (printed), 2 a module file is missing or the tree cannot be read.
Only the Python 3 standard library is used.
"""

import os
import re
import sys
from collections import defaultdict

# ----------------------------------------------------------------------------------------------------------------
# Lexing: identifiers, punctuation and string literals (kept for `#[path = "..."]`); comments dropped.
# ----------------------------------------------------------------------------------------------------------------

IDENT_START = re.compile(r"[A-Za-z_]")
IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")
RAW_STRING = re.compile(r'(?:b|c)?r(#*)"')
CHAR_LITERAL = re.compile(r"b?'(?:[^'\\\n]|\\(?:[nrt\\0'\"]|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]{1,6}\}))'")


class Token:
    __slots__ = ("kind", "text", "line")

    def __init__(self, kind, text, line):
        self.kind = kind  # "ident", "punct", "str"
        self.text = text
        self.line = line

    def __repr__(self):
        return f"{self.kind}:{self.text}@{self.line}"


def lex(source):
    """Tokens of Rust source: identifiers, `::` and single punctuation characters, and string literals (their
    value unescaped only as far as `#[path]` needs). Comments, numbers, lifetimes and char literals vanish."""
    tokens = []
    i, n, line = 0, len(source), 1
    while i < n:
        c = source[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if source.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif source.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += source[i] == "\n"
                    i += 1
        elif (m := RAW_STRING.match(source, i)) and (i == 0 or not (source[i - 1].isalnum() or source[i - 1] == "_")):
            closing = '"' + m.group(1)
            end = source.find(closing, m.end())
            end = n if end < 0 else end
            value = source[m.end() : end]
            tokens.append(Token("str", value, line))
            line += value.count("\n")
            i = end + len(closing)
        elif c == '"' or (c in "bc" and source.startswith('"', i + 1) and not _ident_before(source, i)):
            start = i + (1 if c == '"' else 2)
            j, value = start, []
            while j < n and source[j] != '"':
                if source[j] == "\\" and j + 1 < n:
                    value.append(source[j : j + 2])
                    j += 2
                else:
                    value.append(source[j])
                    j += 1
            text = "".join(value)
            tokens.append(Token("str", text, line))
            line += text.count("\n")
            i = j + 1
        elif c == "'" or (c == "b" and source.startswith("'", i + 1) and not _ident_before(source, i)):
            m = CHAR_LITERAL.match(source, i)
            if m:
                i = m.end()
            else:  # a lifetime or label: skip the quote, the name follows as an identifier (harmless)
                i += 1 if c == "'" else 2
        elif IDENT_START.match(c):
            m = IDENT.match(source, i)
            tokens.append(Token("ident", m.group(0).removeprefix("r#"), line))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_]*(?:\.[0-9][0-9A-Za-z_]*)?").match(source, i)
            i = m.end()
        elif source.startswith("::", i):
            tokens.append(Token("punct", "::", line))
            i += 2
        else:
            tokens.append(Token("punct", c, line))
            i += 1
    return tokens


def _ident_before(source, i):
    return i > 0 and (source[i - 1].isalnum() or source[i - 1] == "_")


# ----------------------------------------------------------------------------------------------------------------
# The module tree of a crate, with every path each module names.
# ----------------------------------------------------------------------------------------------------------------


class Module:
    def __init__(self, path, file):
        self.path = path  # tuple of names from the crate root
        self.file = file  # the file its code is in (inline modules: their parent's file)
        self.children = {}  # name -> Module
        self.uses = []  # (segments, alias or None, is_glob, line): every `use` leaf in this module's own scope
        self.refs = []  # (segments, line, text): every path this module's code names (uses included)


class TreeError(Exception):
    pass


class CrateReader:
    """Reads the module tree of one crate from its root file."""

    def __init__(self, root_file, with_tests=False):
        self.root_file = root_file
        self.with_tests = with_tests
        self.root = Module((), root_file)
        self._read_file(self.root, root_file, mod_rs=True)

    def _read_file(self, module, file, mod_rs):
        try:
            with open(file, encoding="utf-8") as f:
                tokens = lex(f.read())
        except OSError as err:
            raise TreeError(f"cannot read {file}: {err}") from err
        # Children declared in this file live in `base` (a directory), then under inline modules' names.
        base = os.path.dirname(file) if mod_rs else os.path.splitext(file)[0]
        self._read_scope(module, tokens, 0, len(tokens), file, base, inline=False)

    def _read_scope(self, module, tokens, i, end, file, base, inline):
        """Reads tokens[i:end] as the items of `module`; returns where it stopped (end, or a closing brace)."""
        pending_path, pending_test = None, False
        while i < end:
            t = tokens[i]
            if t.text == "#" and i + 1 < end and tokens[i + 1].text in ("[", "!"):
                j = i + 1 + (tokens[i + 1].text == "!")
                close = _matching(tokens, j)
                attr = [a.text for a in tokens[j + 1 : close]]
                if len(attr) == 3 and attr[:2] == ["path", "="] and tokens[j + 3].kind == "str":
                    pending_path = attr[2]
                pending_test = pending_test or attr == ["cfg", "(", "test", ")"]
                i = close + 1
                continue
            if t.kind == "ident" and t.text == "mod" and i + 2 < end and tokens[i + 1].kind == "ident":
                name, after = tokens[i + 1].text, tokens[i + 2].text
                skip = pending_test and not self.with_tests
                if after == ";":
                    if not skip:
                        child = Module(module.path + (name,), None)
                        module.children[name] = child
                        child.file, child_mod_rs = self._locate(file, base, name, pending_path, inline)
                        self._read_file(child, child.file, child_mod_rs)
                    pending_path, pending_test, i = None, False, i + 3
                    continue
                if after == "{":
                    close = _matching(tokens, i + 2)
                    if not skip:
                        child = Module(module.path + (name,), file)
                        module.children[name] = child
                        self._read_scope(child, tokens, i + 3, close, file, os.path.join(base, name), inline=True)
                    pending_path, pending_test, i = None, False, close + 1
                    continue
            if t.kind == "ident" and t.text == "use" and _is_item_start(tokens, i):
                semi = i + 1
                while semi < end and tokens[semi].text != ";":
                    semi += 1
                for segments, alias, glob in _use_tree(tokens[i + 1 : semi]):
                    module.uses.append((segments, alias, glob, t.line))
                    module.refs.append((segments, t.line, "use " + "::".join(segments) + ("::*" if glob else "")))
                pending_path, pending_test, i = None, False, semi + 1
                continue
            if t.kind == "ident" and t.text in ("crate", "super", "self") and _next_is(tokens, i, "::"):
                if not (i > 0 and tokens[i - 1].text in ("::", "$")):
                    segments, j = _path_at(tokens, i)
                    module.refs.append((segments, t.line, "::".join(segments)))
                    i = j
                    continue
            if t.text in (";", "{", "}"):
                pending_path, pending_test = None, False
            i += 1
        return i

    def _locate(self, file, base, name, path_attr, inline):
        """The file of `mod name;` declared in `file` (children under `base`), and whether it is a mod-rs file."""
        if path_attr is not None:
            directory = base if inline else os.path.dirname(file)
            target = os.path.normpath(os.path.join(directory, path_attr))
            if not os.path.isfile(target):
                raise TreeError(f"{file}: #[path = \"{path_attr}\"] mod {name}: no file {target}")
            return target, True
        flat = os.path.join(base, name + ".rs")
        nested = os.path.join(base, name, "mod.rs")
        if os.path.isfile(flat):
            return flat, False
        if os.path.isfile(nested):
            return nested, True
        raise TreeError(f"{file}: mod {name}: neither {flat} nor {nested} exists")

    def modules(self):
        stack = [self.root]
        while stack:
            m = stack.pop()
            yield m
            stack.extend(m.children.values())


def _matching(tokens, i):
    """Index of the bracket closing the one at tokens[i]."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    open_, close = tokens[i].text, pairs[tokens[i].text]
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].kind != "punct":
            continue  # a string literal "{" is no bracket
        if tokens[j].text == open_:
            depth += 1
        elif tokens[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise TreeError(f"line {tokens[i].line}: unbalanced {open_}")


def _next_is(tokens, i, text):
    return i + 1 < len(tokens) and tokens[i + 1].text == text


def _is_item_start(tokens, i):
    """`use` as the start of an item: after `;`, `{`, `}`, `]` (an attribute) or a visibility."""
    if i == 0:
        return True
    prev = tokens[i - 1].text
    return prev in (";", "{", "}", "]", "pub", ")")


def _path_at(tokens, i):
    """The path starting at tokens[i] (`crate::a::b`, `super::super::x`): its segments and the index after it."""
    segments = [tokens[i].text]
    j = i + 1
    while j + 1 < len(tokens) and tokens[j].text == "::" and tokens[j + 1].kind == "ident":
        segments.append(tokens[j + 1].text)
        j += 2
    return segments, j


def _use_tree(tokens):
    """The leaves of a use tree: (segments, alias, is_glob) for `a::b::{c, d::{self, e as f}, g::*}`."""
    leaves = []

    def tree(i, prefix):
        segments = list(prefix)
        while i < len(tokens):
            t = tokens[i]
            if t.text == "::":
                i += 1
            elif t.text == "{":
                i += 1
                while i < len(tokens) and tokens[i].text != "}":
                    if tokens[i].text == ",":
                        i += 1
                        continue
                    i = tree(i, segments)
                return i + 1
            elif t.text == "*":
                leaves.append((segments, None, True))
                return i + 1
            elif t.kind == "ident" and t.text == "self" and segments:
                i += 1  # `{self}`: the prefix itself
                alias = None
                if i + 1 < len(tokens) and tokens[i].text == "as":
                    alias, i = tokens[i + 1].text, i + 2
                leaves.append((segments, alias, False))
                return i
            elif t.kind == "ident" and t.text != "as":
                segments = segments + [t.text]
                i += 1
                if i < len(tokens) and tokens[i].text == "as":
                    leaves.append((segments, tokens[i + 1].text if i + 1 < len(tokens) else None, False))
                    return i + 2
                if i >= len(tokens) or tokens[i].text in (",", "}"):
                    leaves.append((segments, None, False))
                    return i
            else:
                return i + 1
        return i

    if tokens and tokens[0].text == "::":
        return []  # `use ::name`: an extern crate
    tree(0, [])
    return leaves


# ----------------------------------------------------------------------------------------------------------------
# Resolution: which module a path names, following names a module brings into scope with `use`.
# ----------------------------------------------------------------------------------------------------------------


class Resolver:
    def __init__(self, crate):
        self.crate = crate
        self.by_path = {m.path: m for m in crate.modules()}

    def module_of(self, segments, here):
        """The module a path written in module `here` names (the deepest module along it, re-exports followed),
        or None when it leaves the crate (std, other crates)."""
        return self._resolve(list(segments), here, depth=0)

    def _resolve(self, segments, here, depth):
        if depth > 16 or not segments:
            return None
        first = segments[0]
        if first == "crate":
            current, rest = (), segments[1:]
        elif first in ("super", "self"):
            current, rest = here, segments
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    if not current:
                        return None
                    current = current[:-1]
                rest = rest[1:]
        elif first in self.by_path[here].children:
            current, rest = here, segments
        else:
            # A name `here` brought into scope with `use` (the path `use` names is resolved from `here`).
            target = self._imported(here, first, depth)
            if target is None:
                return None
            current, rest = target, segments[1:]
        while rest:
            module = self.by_path[current]
            if rest[0] in module.children:
                current, rest = current + (rest[0],), rest[1:]
                continue
            imported = self._imported(current, rest[0], depth)
            if imported is not None and imported != current:
                current, rest = imported, rest[1:]
                continue
            break
        return current

    def _imported(self, module_path, name, depth):
        """The module that defines `name` when `module_path` imports it (`use a::b::name [as name]`)."""
        for segments, alias, glob, _line in self.by_path[module_path].uses:
            if glob or (alias or segments[-1]) != name or segments == [name]:
                continue
            if segments[-1] in ("self",):
                continue
            target = self._resolve(segments, module_path, depth + 1)
            if target is not None:
                return target
        return None


# ----------------------------------------------------------------------------------------------------------------
# Circles: strongly connected components of each module's children.
# ----------------------------------------------------------------------------------------------------------------


def sibling_edges(crate):
    """{parent path: {(from child, to child): [(file, line, text), ...]}}."""
    resolver = Resolver(crate)
    edges = defaultdict(lambda: defaultdict(list))
    for module in crate.modules():
        for segments, line, text in module.refs:
            target = resolver.module_of(segments, module.path)
            if target is None:
                continue
            common = 0
            while common < min(len(module.path), len(target)) and module.path[common] == target[common]:
                common += 1
            if common == len(module.path) or common == len(target):
                continue  # itself, an ancestor or a descendant
            parent = module.path[:common]
            edges[parent][(module.path[common], target[common])].append((module.file, line, text))
    return edges


def strongly_connected(nodes, succ):
    """Tarjan's algorithm, iterative; components in a stable order."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(succ.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(succ.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result


def circles(crate):
    """[(parent path, [members], {(a, b): sites})] for every circle among siblings."""
    found = []
    for parent, pair_sites in sorted(sibling_edges(crate).items()):
        succ = defaultdict(set)
        for a, b in pair_sites:
            succ[a].add(b)
        nodes = set(succ) | {b for targets in succ.values() for b in targets}
        for component in strongly_connected(nodes, succ):
            if len(component) < 2:
                continue
            members = set(component)
            inside = {pair: sites for pair, sites in pair_sites.items() if pair[0] in members and pair[1] in members}
            found.append((parent, component, inside))
    return sorted(found, key=lambda c: (c[0], c[1]))


# ----------------------------------------------------------------------------------------------------------------
# The workspace: its crates and their roots.
# ----------------------------------------------------------------------------------------------------------------


def crate_roots(workspace):
    """(label, root file) of every crate target under the workspace: each directory with a Cargo.toml and a
    src/lib.rs, src/main.rs or src/bin/*.rs (target/ and hidden directories are not searched)."""
    roots = []
    for directory, subdirs, files in os.walk(workspace):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in ("target", "node_modules"))
        if "Cargo.toml" not in files:
            continue
        src = os.path.join(directory, "src")
        package = _package_name(os.path.join(directory, "Cargo.toml")) or os.path.basename(directory)
        for name in ("lib.rs", "main.rs"):
            if os.path.isfile(os.path.join(src, name)):
                roots.append((f"{package} ({os.path.relpath(os.path.join(src, name), workspace)})", os.path.join(src, name)))
        bin_dir = os.path.join(src, "bin")
        if os.path.isdir(bin_dir):
            for entry in sorted(os.listdir(bin_dir)):
                path = os.path.join(bin_dir, entry)
                if entry.endswith(".rs"):
                    roots.append((f"{package} ({os.path.relpath(path, workspace)})", path))
                elif os.path.isfile(os.path.join(path, "main.rs")):
                    roots.append((f"{package} ({os.path.relpath(path, workspace)}/main.rs)", os.path.join(path, "main.rs")))
    return roots


def _package_name(cargo_toml):
    in_package = False
    with open(cargo_toml, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("["):
                in_package = line == "[package]"
            elif in_package and (m := re.match(r'name\s*=\s*"([^"]+)"', line)):
                return m.group(1)
    return None


def check(workspace, with_tests=False, out=sys.stdout):
    """Prints every circle of every crate under `workspace`; returns the number of circles."""
    total = 0
    for label, root in crate_roots(workspace):
        crate = CrateReader(root, with_tests)
        found = circles(crate)
        modules = sum(1 for _ in crate.modules())
        if not found:
            print(f"module-cycles: {label}: {modules} modules, no circle", file=out)
            continue
        for parent, members, inside in found:
            total += 1
            where = "crate::" + "::".join(parent) if parent else "crate"
            print(f"module-cycles: {label}: circle in {where}: {' <-> '.join(members)}", file=out)
            for (a, b), sites in sorted(inside.items()):
                file, line, text = sites[0]
                more = f" (+{len(sites) - 1} more)" if len(sites) > 1 else ""
                print(f"  {a} -> {b}: {os.path.relpath(file, workspace)}:{line} {text}{more}", file=out)
    return total


def main(argv):
    args = argv[1:]
    with_tests = "--with-tests" in args
    args = [a for a in args if a != "--with-tests"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    workspace = args[0] if args else "."
    try:
        total = check(workspace, with_tests)
    except TreeError as err:
        print(f"module-cycles: {err}", file=sys.stderr)
        return 2
    if total:
        print(f"module-cycles: {total} circle(s) between sibling modules", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
