"""``wavecross models``: the bundled models (for ``fuse --model``) and the shipped recipes (for ``train``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def _summary(recipe: str) -> str:
    """The first sentence of a shipped recipe's opening comment: what it is for."""
    from ..train.config import recipe_path

    for line in recipe_path(recipe).read_text().splitlines():
        if line.startswith("#"):
            sentence, sep, _ = line.lstrip("# ").partition(". ")
            return sentence.strip() + "." * bool(sep)
    return ""


def run(args: argparse.Namespace) -> int:
    from ..hub import MODELS, list_models, parameter_count
    from ..train.config import recipes

    names = list_models()
    width = max(len(n) for n in [*names, *recipes()])
    print("models (wavecross fuse --model NAME; wavecross.load_model(NAME)):")
    for name in names:
        entry = MODELS[name]
        print(f"  {name:<{width}}  {parameter_count(name) / 1e6:.1f} M parameters, weights/{entry.weights}")
        print(f"  {'':<{width}}  {entry.description}")
    print("recipes (wavecross train NAME):")
    for recipe in recipes():
        print(f"  {recipe:<{width}}  {_summary(recipe)}")
    return 0
