#!/usr/bin/env python3
"""Self-tests of module_cycles.py on small crates written to a temporary directory.

    python3 .ci/module_cycles_test.py
"""

import io
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import module_cycles  # noqa: E402


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))


CARGO = '[package]\nname = "fixture"\nversion = "0.1.0"\n'


class ModuleCyclesTest(unittest.TestCase):
    def run_check(self, files, with_tests=False):
        """(number of circles, printed text) for a workspace made of `files`."""
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, {"Cargo.toml": CARGO, **files})
            out = io.StringIO()
            total = module_cycles.check(root, with_tests=with_tests, out=out)
            return total, out.getvalue()

    def test_two_modules_importing_each_other_are_a_circle(self):
        total, text = self.run_check(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::B;\npub struct A;\n",
                "src/b.rs": "pub struct B;\nfn f() { super::a::A; }\n",
            }
        )
        self.assertEqual(total, 1, text)
        self.assertIn("circle in crate: a <-> b", text)
        self.assertIn("a -> b: src/a.rs:1 use crate::b::B", text)
        self.assertIn("b -> a: src/b.rs:2 super::a::A", text)

    def test_a_chain_of_three_is_one_circle(self):
        total, text = self.run_check(
            {
                "src/lib.rs": "mod a;\nmod b;\nmod c;\nmod d;\n",
                "src/a.rs": "use crate::b;\n",
                "src/b.rs": "use super::{c::C, d};\n",
                "src/c.rs": "pub struct C;\nfn f() -> crate::a::X { todo!() }\n",
                "src/d.rs": "",
            }
        )
        self.assertEqual(total, 1, text)
        self.assertIn("circle in crate: a <-> b <-> c", text)
        self.assertNotIn("d", text.split("circle in crate: ")[1].splitlines()[0])

    def test_no_circle_when_dependencies_go_one_way(self):
        total, text = self.run_check(
            {
                "src/lib.rs": """\
                    //! Mentions crate::b::x and crate::a::y in a comment.
                    pub mod a;
                    pub mod b;
                    pub use a::A;
                    """,
                "src/a.rs": """\
                    use std::collections::HashMap;
                    use other_crate::b::Thing;
                    use crate::b::{self, B as Bee};
                    pub mod child;
                    pub struct A<'a>(&'a str);
                    fn f() { let _ = child::C; let _c = 'x'; let _q = '\\''; }
                    """,
                "src/a/child.rs": "use super::super::b::B;\nuse super::*;\npub struct C;\n",
                "src/b.rs": """\
                    /* crate::a::A in a /* nested */ comment */
                    pub struct B;
                    const S: &str = "crate::a::A";
                    const R: &str = r#"use crate::a; "quoted""#;
                    fn g<'a>(x: &'a str) -> &'a str { x }
                    """,
            }
        )
        self.assertEqual(total, 0, text)
        self.assertIn("4 modules, no circle", text)

    def test_circles_between_nested_siblings_name_their_parent(self):
        total, text = self.run_check(
            {
                "src/lib.rs": "mod outer;\nmod top;\n",
                "src/outer/mod.rs": "mod p;\nmod q;\n#[path = \"elsewhere.rs\"]\nmod r;\nmod inline {\n    use super::p;\n}\n",
                "src/outer/p.rs": "use crate::outer::q::Q;\n",
                "src/outer/q.rs": "pub struct Q;\nfn f() { crate::outer::r::g(); }\n",
                "src/outer/elsewhere.rs": "pub fn g() { super::p::h(); }\n",
                "src/top.rs": "use crate::outer;\n",
            }
        )
        self.assertEqual(total, 1, text)
        self.assertIn("circle in crate::outer: p <-> q <-> r", text)
        self.assertIn("r -> p: src/outer/elsewhere.rs:1 super::p::h", text)
        # `inline` -> p is a one-way dependency; top -> outer is not a circle either.
        self.assertNotIn("inline", text)

    def test_a_name_re_exported_by_the_parent_is_followed_to_its_module(self):
        total, text = self.run_check(
            {
                "src/lib.rs": "mod a;\nmod b;\npub use b::Thing;\n",
                "src/a.rs": "pub fn f() -> crate::Thing { todo!() }\n",
                "src/b.rs": "pub struct Thing;\nfn g() { crate::a::f(); }\n",
            }
        )
        self.assertEqual(total, 1, text)
        self.assertIn("a -> b: src/a.rs:1 crate::Thing", text)

    def test_test_modules_are_left_out_unless_asked_for(self):
        files = {
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "pub fn f() {}\n#[cfg(test)]\n#[path = \"a_tests.rs\"]\nmod tests;\n",
            "src/a_tests.rs": "use crate::b::g;\n",
            "src/b.rs": "pub fn g() { crate::a::f() }\n",
        }
        self.assertEqual(self.run_check(files)[0], 0)
        total, text = self.run_check(files, with_tests=True)
        self.assertEqual(total, 1, text)
        self.assertIn("a -> b: src/a_tests.rs:1 use crate::b::g", text)

    def test_brackets_inside_string_literals_are_no_brackets(self):
        total, text = self.run_check(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "#[cfg(test)]\nmod t { fn f() { g(\"{\", \"[\"); } }\nuse crate::b::B;\n",
                "src/b.rs": "pub struct B;\n",
            },
            with_tests=True,
        )
        self.assertEqual(total, 0, text)

    def test_a_missing_module_file_is_an_error(self):
        with self.assertRaises(module_cycles.TreeError):
            self.run_check({"src/lib.rs": "mod gone;\n"})

    def test_every_crate_of_the_workspace_is_read(self):
        total, text = self.run_check(
            {
                "src/main.rs": "mod x;\nmod y;\n",
                "src/x.rs": "use crate::y::Y;\n",
                "src/y.rs": "pub struct Y;\n",
                "crates/two/Cargo.toml": '[package]\nname = "two"\n',
                "crates/two/src/lib.rs": "mod m;\nmod n;\n",
                "crates/two/src/m.rs": "use super::n;\n",
                "crates/two/src/n.rs": "use super::m;\n",
            }
        )
        self.assertEqual(total, 1, text)
        self.assertIn("fixture (src/main.rs): 3 modules, no circle", text)
        self.assertIn("two (crates/two/src/lib.rs): circle in crate: m <-> n", text)

    def test_the_command_exits_1_on_a_circle_and_0_without(self):
        script = os.path.join(HERE, "module_cycles.py")
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, {"Cargo.toml": CARGO, "src/lib.rs": "mod a;\nmod b;\n", "src/a.rs": "use crate::b;\n",
                              "src/b.rs": ""})
            ok = subprocess.run([sys.executable, script, root], capture_output=True, text=True)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            write_tree(root, {"src/b.rs": "use crate::a;\n"})
            bad = subprocess.run([sys.executable, script, root], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
            self.assertIn("circle in crate: a <-> b", bad.stdout)
            self.assertIn("1 circle(s)", bad.stderr)
            write_tree(root, {"src/lib.rs": "mod a;\nmod b;\nmod c;\n"})
            missing = subprocess.run([sys.executable, script, root], capture_output=True, text=True)
            self.assertEqual(missing.returncode, 2, missing.stdout + missing.stderr)


if __name__ == "__main__":
    unittest.main()
