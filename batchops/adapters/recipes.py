"""Reading recipe files from disk; the rules are in :mod:`batchops.core.recipes` (pure).

A file that cannot be read as a recipe (not UTF-8, larger than ``MAX_RECIPE_BYTES``,
bad TOML, nested too deep) comes back as a :class:`~batchops.core.recipes.RecipeError`
among the results: one bad recipe never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from batchops.core.recipes import Recipe, RecipeError, parse_recipe
from batchops.errors import UsageError

MAX_RECIPE_BYTES = 1024 * 1024  # a recipe is a few KiB


def load_recipe(path: str | Path, *, root: str | Path | None = None) -> Recipe:
    target = Path(path)
    relpath = target.relative_to(root).as_posix() if root is not None else target.name
    try:
        size = target.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise RecipeError(
                f"is {size} bytes, more than the {MAX_RECIPE_BYTES} a recipe may have",
                file=str(path),
                hint="a recipe is a few KiB of TOML; fix or remove the file",
            )
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(
            f"cannot read: {exc.__class__.__name__}", file=str(path), hint="check the file is UTF-8 text and readable"
        ) from None
    return parse_recipe(text, file=str(path), relpath=relpath)


def recipe_files(folder: str | Path) -> list[Path]:
    """Every ``*.toml`` under ``folder`` (recursively, hidden folders left out), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(
            "is not a folder",
            file=str(folder),
            field="recipes-dir",
            hint="set the input recipes-dir to the folder that holds the recipe .toml files",
        )
    return sorted(
        p
        for p in root.rglob("*.toml")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def iter_dir(folder: str | Path, *, only: set[str] | None = None) -> Iterator[Recipe | RecipeError]:
    """Each recipe under ``folder`` as it is read (only those whose relative path is in ``only``).

    A broken recipe does not stop the others: it comes back as a RecipeError.
    """
    for path in recipe_files(folder):
        relpath = path.relative_to(folder).as_posix()
        if only is not None and relpath not in only:
            continue
        try:
            yield load_recipe(path, root=folder)
        except RecipeError as exc:
            yield exc


def load_dir(folder: str | Path, *, only: set[str] | None = None) -> tuple[list[Recipe], list[RecipeError]]:
    """All recipes under ``folder``, and the files that could not be read."""
    loaded: list[Recipe] = []
    errors: list[RecipeError] = []
    for item in iter_dir(folder, only=only):
        if isinstance(item, RecipeError):
            errors.append(item)
        else:
            loaded.append(item)
    return loaded, errors
