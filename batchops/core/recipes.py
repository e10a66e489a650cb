"""Registry recipes (TOML): which checksum files a recipe points at, for which platforms.

Read with :mod:`tomllib`, never grep. A recipe has a ``[version]`` section
(``github_repo`` + ``tag_prefix``, ``source = "nodejs_dist"``, or a pinned
``version``) and ``[[steps]]``; every step with a ``checksum_url`` names an
upstream checksum file. URL templates use ``{version}``, ``{version_tag}``,
``{os}`` and ``{arch}``; a step's ``os_mapping``/``arch_mapping`` rename the
platform's os/arch for that step only.

Platform matching follows the registry's ``when`` clause: ``platform``
(``["darwin/arm64"]``), ``os`` (list or string), ``arch`` (string or list),
``libc`` and ``linux_family``. For Linux, glibc steps are preferred; musl (and
the ``alpine`` family) is used only when a recipe has no glibc step with a
checksum. The recipe's ``supported_os``, ``supported_arch`` and
``unsupported_platforms`` exclude platforms entirely.

Pure: text in, recipes out; no file, no network, no clock. Reading the files is
:mod:`batchops.adapters.recipes`; :mod:`batchops.engines.drift` does the rest.
A recipe that cannot be read (bad TOML, nested too deep, a wrong type where a string
belongs) is a :class:`RecipeError` naming the file and the field, never a crash.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batchops.errors import BatchopsError, UsageError

DEFAULT_PLATFORMS = ("linux/amd64",)

# What may appear in a recipe name or a resolved version: they end up in URLs,
# file keys, issue titles and the command line of the runbook.
# (``\Z``, not ``$``: a trailing newline must not slip through)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}\Z")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLATFORM = re.compile(r"([a-z0-9_]+)/([a-z0-9_]+)\Z")

# version sources this monitor can resolve
SOURCE_GITHUB = "github_releases"
SOURCE_NODEJS = "nodejs_dist"
SOURCE_PINNED = "pinned"


class RecipeError(BatchopsError):
    """A recipe file that cannot be read as a recipe."""


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}"


@dataclass(frozen=True)
class VersionSpec:
    """How the recipe's current version is found."""

    source: str  # SOURCE_GITHUB, SOURCE_NODEJS, SOURCE_PINNED, or what the recipe says ("" = none)
    github_repo: str = ""
    tag_prefix: str = ""
    pinned: str = ""


@dataclass(frozen=True)
class ChecksumStep:
    index: int  # position among the recipe's [[steps]], from 0
    action: str
    template: str
    os_mapping: Mapping[str, str] = field(default_factory=dict)
    arch_mapping: Mapping[str, str] = field(default_factory=dict)
    when: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    file: str  # path as given (relative to the working directory when it was)
    relpath: str  # path relative to the recipes folder, POSIX
    version: VersionSpec
    steps: tuple[ChecksumStep, ...]
    supported_os: tuple[str, ...] = ()
    supported_arch: tuple[str, ...] = ()
    supported_libc: tuple[str, ...] = ()
    unsupported_platforms: tuple[str, ...] = ()

    def supports(self, platform: Platform) -> bool:
        if self.supported_os and platform.os not in self.supported_os:
            return False
        if self.supported_arch and platform.arch not in self.supported_arch:
            return False
        return str(platform) not in self.unsupported_platforms


@dataclass(frozen=True)
class ChecksumTarget:
    """One checksum file of one recipe version, and the platforms that use it."""

    url: str
    platforms: tuple[str, ...]
    steps: tuple[int, ...]


# --- platforms ------------------------------------------------------------------------


def _list(value: Any, field: str) -> list[str]:
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value or "").strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if not isinstance(loaded, list) or not all(isinstance(i, str) for i in loaded):
                raise UsageError(
                    "is not a JSON array of strings",
                    field=field,
                    hint='write ["linux/amd64","darwin/arm64"] or linux/amd64,darwin/arm64',
                )
            items = loaded
        else:
            items = [part for chunk in text.splitlines() for part in chunk.split(",")]
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


def parse_platforms(value: Any, *, field: str = "platforms") -> list[Platform]:
    """``linux/amd64,darwin/arm64`` (or a JSON array / newline list); empty means linux/amd64."""
    items = _list(value, field) or list(DEFAULT_PLATFORMS)
    platforms: list[Platform] = []
    for item in items:
        match = _PLATFORM.match(item.strip().lower())
        if match and len(platforms) >= 64:
            raise UsageError(
                "names more than 64 platforms",
                field=field,
                hint="list the platforms the registry builds, e.g. linux/amd64,darwin/arm64",
            )
        if not match:
            raise UsageError(
                f"{item!r} is not an os/arch platform",
                field=field,
                hint="write platforms as os/arch, e.g. linux/amd64,darwin/arm64",
            )
        platforms.append(Platform(match.group(1), match.group(2)))
    return platforms


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def when_matches(when: Mapping[str, Any], platform: Platform, *, libc: str, family: str = "") -> bool:
    """The registry's ``when`` semantics for one target (os, arch, libc, linux family)."""
    if not when:
        return True
    tuples = _strings(when.get("platform"))
    if tuples and str(platform) not in tuples:
        return False
    oses = _strings(when.get("os"))
    if oses and platform.os not in oses:
        return False
    arches = _strings(when.get("arch"))
    if arches and platform.arch not in arches:
        return False
    libcs = _strings(when.get("libc"))
    if libcs and (platform.os != "linux" or libc not in libcs):
        return False
    wanted_family = str(when.get("linux_family") or "")
    if wanted_family and (platform.os != "linux" or wanted_family != family):
        return False
    return True


def _linux_variants(recipe: Recipe) -> list[tuple[str, str]]:
    variants = [("glibc", ""), ("musl", "alpine")]
    if recipe.supported_libc:
        variants = [v for v in variants if v[0] in recipe.supported_libc] or variants
    return variants


def steps_for(recipe: Recipe, platform: Platform) -> list[ChecksumStep]:
    """The checksum steps that apply on ``platform`` (glibc preferred on Linux)."""
    if not recipe.supports(platform):
        return []
    if platform.os != "linux":
        return [s for s in recipe.steps if when_matches(s.when, platform, libc="")]
    for libc, family in _linux_variants(recipe):
        chosen = [s for s in recipe.steps if when_matches(s.when, platform, libc=libc, family=family)]
        if chosen:
            return chosen
    return []


# --- templates ------------------------------------------------------------------------


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders; an unknown one is a ValueError naming it."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"unknown placeholder {{{key}}}")
        return values[key]

    return _PLACEHOLDER.sub(replace, template)


def checksum_targets(
    recipe: Recipe, version: str, version_tag: str, platforms: Iterable[Platform]
) -> list[ChecksumTarget]:
    """Every distinct checksum URL of ``recipe`` at ``version`` for ``platforms``.

    A URL shared by several platforms (one SHA256SUMS for all) is fetched once.
    Raises ValueError for a template with an unknown placeholder.
    """
    order: list[str] = []
    platforms_by_url: dict[str, list[str]] = {}
    steps_by_url: dict[str, list[int]] = {}
    for platform in platforms:
        for step in steps_for(recipe, platform):
            values = {
                "version": version,
                "version_tag": version_tag,
                "os": str(step.os_mapping.get(platform.os, platform.os)),
                "arch": str(step.arch_mapping.get(platform.arch, platform.arch)),
            }
            url = render(step.template, values)
            if url not in platforms_by_url:
                order.append(url)
                platforms_by_url[url] = []
                steps_by_url[url] = []
            if str(platform) not in platforms_by_url[url]:
                platforms_by_url[url].append(str(platform))
            if step.index not in steps_by_url[url]:
                steps_by_url[url].append(step.index)
    return [ChecksumTarget(url, tuple(platforms_by_url[url]), tuple(steps_by_url[url])) for url in order]


# --- reading --------------------------------------------------------------------------


def _line_of(exc: tomllib.TOMLDecodeError) -> int | None:
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else None


def parse_recipe(text: str, *, file: str, relpath: str | None = None) -> Recipe:
    """Parse one recipe's TOML text; RecipeError names the file, line and field."""
    try:
        return _parse(text, file, relpath)
    except RecursionError:
        raise RecipeError(
            "is nested too deeply to be a recipe (arrays or tables within each other hundreds of levels deep)",
            file=file,
            hint="a recipe needs [metadata], [version] and [[steps]] a few levels deep at most; fix or remove the file",
        ) from None


def _parse(text: str, file: str, relpath: str | None) -> Recipe:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            f"not valid TOML: {exc}",
            file=file,
            line=_line_of(exc),
            hint=(
                "fix the TOML syntax; "
                "`python -c 'import tomllib,sys;tomllib.load(open(sys.argv[1],\"rb\"))' FILE` shows the error"
            ),
        ) from None
    stem = _stem(file)
    metadata = _table(data.get("metadata"))
    name = str(metadata.get("name") or stem)
    if not NAME_PATTERN.match(name):
        raise RecipeError(
            f"recipe name {name!r} has characters other than letters, digits, '.', '_', '+' and '-'",
            file=file,
            field="metadata.name",
            hint="rename the recipe",
        )
    version_data = _table(data.get("version"))
    github_repo = str(version_data.get("github_repo") or "").strip()
    source = str(version_data.get("source") or "").strip()
    pinned = str(version_data.get("version") or version_data.get("pinned") or "").strip()
    if pinned:
        spec = VersionSpec(SOURCE_PINNED, github_repo, str(version_data.get("tag_prefix") or ""), pinned)
    elif source == SOURCE_NODEJS:
        spec = VersionSpec(SOURCE_NODEJS, tag_prefix=str(version_data.get("tag_prefix") or "v"))
    elif github_repo and source in ("", SOURCE_GITHUB, "github"):
        spec = VersionSpec(SOURCE_GITHUB, github_repo, str(version_data.get("tag_prefix") or ""))
    else:
        spec = VersionSpec(source, github_repo, str(version_data.get("tag_prefix") or ""))
    raw_steps: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict) or not raw.get("checksum_url"):
            continue
        template = raw["checksum_url"]
        if not isinstance(template, str):
            raise RecipeError(
                "checksum_url must be a string",
                file=file,
                field=f"steps[{index}].checksum_url",
                hint='write checksum_url = "https://..."',
            )
        when = _table(raw.get("when"))
        steps.append(
            ChecksumStep(
                index=index,
                action=str(raw.get("action") or ""),
                template=template.strip(),
                os_mapping={str(k): str(v) for k, v in _table(raw.get("os_mapping")).items()},
                arch_mapping={str(k): str(v) for k, v in _table(raw.get("arch_mapping")).items()},
                when=dict(when),
            )
        )
    return Recipe(
        name=name,
        file=file,
        relpath=relpath or file.replace("\\", "/").rsplit("/", 1)[-1],
        version=spec,
        steps=tuple(steps),
        supported_os=_strings(metadata.get("supported_os")),
        supported_arch=_strings(metadata.get("supported_arch")),
        supported_libc=_strings(metadata.get("supported_libc")),
        unsupported_platforms=_strings(metadata.get("unsupported_platforms")),
    )


def _stem(file: str) -> str:
    name = file.replace("\\", "/").rsplit("/", 1)[-1]
    return name[: -len(".toml")] if name.endswith(".toml") else name.rsplit(".", 1)[0] if "." in name else name


def _table(value: Any) -> dict[str, Any]:
    """A TOML table, or {} when the recipe has something else there."""
    return value if isinstance(value, dict) else {}
