"""The `moscale` command line.

Each subcommand lives in the module that owns its concern; that module exposes
`configure_parser(parser: argparse.ArgumentParser) -> None` and `run(args: argparse.Namespace) -> int`.
Modules are imported only when their command runs, so `moscale --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command path -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("data", "build"): ("moscale.data.corpus", "build a HumanML3D-layout corpus from BVH mocap folders"),
    ("data", "stats"): ("moscale.data.dataset", "summarise a HumanML3D-layout folder"),
    ("preview",): ("moscale.preview", "draw a stick-figure GIF/PNG of a clip (.npy joints or features, .bvh)"),
    ("train", "tokenizer"): ("moscale.train.tokenizer", "train the multi-scale residual VQ-VAE"),
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Parse once to find the command, then let its module add its own options and parse again.
    known, _ = parser.parse_known_args(argv)
    module = importlib.import_module(known._module)
    leaf = _leaf_parser(parser, argv)
    module.configure_parser(leaf)
    args = parser.parse_args(argv)
    return int(module.run(args) or 0)


def _leaf_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    current = parser
    for token in argv:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or token not in actions[0].choices:
            break
        current = actions[0].choices[token]
    return current


if __name__ == "__main__":
    sys.exit(main())
