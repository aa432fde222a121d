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
    ("convert",): ("moscale.convert", "convert a motion file (.bvh, .npz incl. AMASS, .npy) to .npz/.bvh/.npy/..."),
    ("edit",): ("moscale.editing", "regenerate a frame range, extend, prepend or in-between motions"),
    ("export",): ("moscale.export", "write a motion file as .fbx/.blend (SMPL character, through bpy), .bvh, preview"),
    ("generate",): ("moscale.pipeline", "generate a motion from text (.fbx/.blend/.bvh/.npy/.npz/.gif/.png)"),
    ("preview",): ("moscale.preview", "draw a stick-figure GIF/PNG of a clip (.npy joints or features, .bvh)"),
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Find the command from the leading words, so its module adds its own options before parsing (and --help lists them).
    path = next((p for p in COMMANDS if tuple(argv[: len(p)]) == p), None)
    if path is not None:
        module = importlib.import_module(COMMANDS[path][0])
        module.configure_parser(_leaf_parser(parser, path))
    args = parser.parse_args(argv)
    return int(importlib.import_module(args._module).run(args) or 0)


def _leaf_parser(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> argparse.ArgumentParser:
    current = parser
    for word in path:
        subparsers = next(a for a in current._actions if isinstance(a, argparse._SubParsersAction))
        current = subparsers.choices[word]
    return current


if __name__ == "__main__":
    sys.exit(main())
