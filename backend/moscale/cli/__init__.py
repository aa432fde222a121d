"""The `moscale` command line: the top layer, above every other (docs/architecture.md).

The commands on motions and models (generate, edit, export, convert, preview, data extract) live in this package;
the data, training and evaluation commands in the modules that own them. Each exposes
`configure_parser(parser: argparse.ArgumentParser) -> None` and `run(args: argparse.Namespace) -> int`, and is
imported only when its command runs, so `moscale --help` stays fast. `checks.py` validates every option a user typed
before any model is loaded.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

# command path -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("data", "build"): ("moscale.data.corpus", "build a HumanML3D-layout corpus from BVH mocap folders"),
    ("data", "stats"): ("moscale.data.stats", "summarise a HumanML3D-layout folder"),
    ("data", "extract"): ("moscale.cli.extract", "read the animations of .blend/.glb/.gltf files as .npz motions"),
    ("convert",): ("moscale.cli.convert", "convert a motion file (.bvh, .npz incl. AMASS, .npy) to .npz/.bvh/.npy/..."),
    ("edit",): ("moscale.cli.edit", "regenerate a frame range, extend, prepend or in-between motions"),
    ("export",): ("moscale.cli.export", "write a motion file as .fbx/.blend (SMPL character, through bpy), .bvh, preview"),
    ("generate",): ("moscale.cli.generate", "generate a motion from text (.fbx/.blend/.bvh/.npy/.npz/.gif/.png)"),
    ("preview",): ("moscale.cli.preview", "draw a stick-figure GIF/PNG of a clip (.npy joints or features, .bvh)"),
    ("train", "tokenizer"): ("moscale.train.tokenizer", "train the multi-scale residual VQ-VAE"),
    ("train", "generator"): ("moscale.train.generator", "train the text-to-motion transformer (next-scale or next-token)"),
    ("train", "evaluator"): ("moscale.train.evaluator", "train the text-motion evaluator (contrastive)"),
    ("eval", "generator"): ("moscale.evaluation.generation", "text-to-motion metrics of a generator release folder"),
    ("eval", "compare"): ("moscale.evaluation.comparison", "the controlled comparison: docs/results.md and plots"),
    ("eval", "tokenizer"): ("moscale.evaluation.tokenizer", "reconstruction MPJPE per scale, codebook usage"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moscale", description="MoScale text-to-motion tools")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(dest="command", required=True)}
    for path, (module, help_text) in COMMANDS.items():
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in groups:
                group_parser = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group_parser.add_subparsers(dest=f"command_{depth}", required=True)
        leaf = groups[path[:-1]].add_parser(path[-1], help=help_text, description=help_text)
        leaf.set_defaults(_module=module)
    return parser


# Options whose value may start with a minus sign ("--frames -10:20"), which argparse takes for another option and
# answers with "expected one argument": such a value is joined to its option, so the command's own check names it.
SIGNED_VALUES = ("--frames",)


def _join_signed_values(argv: list[str]) -> list[str]:
    joined, i = [], 0
    while i < len(argv):
        if argv[i] in SIGNED_VALUES and i + 1 < len(argv) and re.match(r"-\d", argv[i + 1]):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def main(argv: list[str] | None = None) -> int:
    argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    # Find the command from the leading words, so its module adds its own options before parsing (and --help lists them).
    path = next((p for p in COMMANDS if tuple(argv[: len(p)]) == p), None)
    leaf = None
    if path is not None:
        module = importlib.import_module(COMMANDS[path][0])
        leaf = _leaf_parser(parser, path)
        module.configure_parser(leaf)
        _add_common_options(path, leaf)
    args = parser.parse_args(argv)
    if leaf is not None and path in CHECKED_COMMANDS:
        from moscale.cli import checks

        try:  # everything a user typed is checked before any model is loaded or any frame computed
            for warning in checks.check_arguments(path, args):
                print(f"warning: {warning}", file=sys.stderr)
        except ValueError as error:  # exit status 2, as the commands' own checks and argparse's
            print(f"{leaf.prog}: error: {error}", file=sys.stderr)
            return 2
        checks.apply_threads(path, args)
    from moscale.utils.atomic import DiskFull

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except DiskFull as error:  # one line, not a traceback: the writer kept the previous file (moscale.utils.atomic)
        print(f"{leaf.prog if leaf is not None else 'moscale'}: error: {error}", file=sys.stderr)
        return 1


# Commands whose options moscale.cli.checks validates, and those that take --threads (torch's CPU threads).
CHECKED_COMMANDS = {("generate",), ("edit",), ("export",), ("convert",), ("preview",)}
THREAD_COMMANDS = {("generate",), ("edit",), ("export",)}


def _add_common_options(path: tuple[str, ...], leaf: argparse.ArgumentParser) -> None:
    if path in THREAD_COMMANDS and "--threads" not in leaf._option_string_actions:
        leaf.add_argument("--threads", type=int, metavar="N",
                          help="CPU threads for torch (default 1 on the CPU: on a busy machine more threads are "
                               "many times slower, see README; give the number of idle cores to use them)")
    output = leaf._option_string_actions.get("-o")
    if output is not None and type(output) is argparse._StoreAction:
        # A second -o used to replace the first silently; the command writes one file, so refuse it instead.
        output.__class__ = _StoreOnce


class _StoreOnce(argparse._StoreAction):
    """A store action that refuses to be given twice (argparse's default keeps the last value silently)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        seen = f"_given_{self.dest}"
        if getattr(namespace, seen, False):
            command = parser.prog
            raise argparse.ArgumentError(self, f"given twice ({getattr(namespace, self.dest)} and {values}): "
                                               f"`{command}` writes one file; write the other formats from it "
                                               "with `moscale export FILE -o OTHER -o ...`")
        setattr(namespace, seen, True)
        super().__call__(parser, namespace, values, option_string)


def _leaf_parser(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> argparse.ArgumentParser:
    current = parser
    for word in path:
        subparsers = next(a for a in current._actions if isinstance(a, argparse._SubParsersAction))
        current = subparsers.choices[word]
    return current


if __name__ == "__main__":
    sys.exit(main())
