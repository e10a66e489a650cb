"""Recipes in the registry's TOML format: which checksum URLs a recipe names, per platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchops.adapters import recipes as recipe_files
from batchops.core import recipes
from batchops.core.recipes import Platform
from batchops.errors import UsageError

LINUX = Platform("linux", "amd64")
LINUX_ARM = Platform("linux", "arm64")
MAC = Platform("darwin", "arm64")

# version each corpus recipe would have, and the checksum URL expected for linux/amd64
CORPUS_LINUX_AMD64 = {
    "boundary": ("0.18.2", "https://releases.hashicorp.com/boundary/0.18.2/boundary_0.18.2_SHA256SUMS"),
    "cargo-nextest": (
        "0.9.100",
        "https://github.com/nextest-rs/nextest/releases/download/cargo-nextest-0.9.100/cargo-nextest-0.9.100-x86_64-unknown-linux-musl.sha256",
    ),
    "cmake": ("3.31.6", "https://github.com/Kitware/CMake/releases/download/v3.31.6/cmake-3.31.6-SHA-256.txt"),
    "consul": ("1.20.2", "https://releases.hashicorp.com/consul/1.20.2/consul_1.20.2_SHA256SUMS"),
    "helm": ("3.17.1", "https://get.helm.sh/helm-v3.17.1-linux-amd64.tar.gz.sha256sum"),
    "kubectl": ("1.32.2", "https://dl.k8s.io/release/v1.32.2/bin/linux/amd64/kubectl.sha256"),
    "nodejs": ("22.14.0", "https://nodejs.org/dist/v22.14.0/SHASUMS256.txt"),
    "nomad": ("1.9.6", "https://releases.hashicorp.com/nomad/1.9.6/nomad_1.9.6_SHA256SUMS"),
    "ollama": ("0.5.12", "https://github.com/ollama/ollama/releases/download/v0.5.12/sha256sum.txt"),
    "packer": ("1.12.0", "https://releases.hashicorp.com/packer/1.12.0/packer_1.12.0_SHA256SUMS"),
    "pcre2": ("10.45", "https://github.com/PCRE2Project/pcre2/releases/download/pcre2-10.45/pcre2-10.45.tar.gz.sha256"),
    "rust": ("1.85.0", "https://static.rust-lang.org/dist/rust-1.85.0-x86_64-unknown-linux-gnu.tar.gz.sha256"),
    "terraform": ("1.11.0", "https://releases.hashicorp.com/terraform/1.11.0/terraform_1.11.0_SHA256SUMS"),
    "vagrant": ("2.4.3", "https://releases.hashicorp.com/vagrant/2.4.3/vagrant_2.4.3_SHA256SUMS"),
    "vault": ("1.18.5", "https://releases.hashicorp.com/vault/1.18.5/vault_1.18.5_SHA256SUMS"),
    "waypoint": ("0.11.4", "https://releases.hashicorp.com/waypoint/0.11.4/waypoint_0.11.4_SHA256SUMS"),
}


def _recipe(text: str, name: str = "tool.toml") -> recipes.Recipe:
    return recipes.parse_recipe(text, file=name)


def test_all_17_corpus_recipes_parse(corpus: Path) -> None:
    loaded, errors = recipe_files.load_dir(corpus / "recipes")
    assert errors == []
    assert len(loaded) == 17
    names = {r.name for r in loaded}
    assert names == set(CORPUS_LINUX_AMD64) | {"zig"}


@pytest.mark.parametrize("name", sorted(CORPUS_LINUX_AMD64))
def test_corpus_recipe_resolves_its_linux_amd64_checksum_url(corpus: Path, name: str) -> None:
    recipe = recipe_files.load_recipe(corpus / "recipes" / f"{name}.toml")
    version, url = CORPUS_LINUX_AMD64[name]
    targets = recipes.checksum_targets(recipe, version, recipe.version.tag_prefix + version, [LINUX])
    assert [t.url for t in targets] == [url]
    assert targets[0].platforms == ("linux/amd64",)


def test_corpus_version_sources_are_read_as_written(corpus: Path) -> None:
    loaded = {r.name: r for r in recipe_files.load_dir(corpus / "recipes")[0]}
    assert loaded["cmake"].version == recipes.VersionSpec("github_releases", "Kitware/CMake", "v")
    assert loaded["terraform"].version == recipes.VersionSpec("github_releases", "hashicorp/terraform", "")
    assert loaded["cargo-nextest"].version.source == ""  # source = "" and no github_repo: nothing to resolve
    assert loaded["pcre2"].version.source == ""  # no [version] section at all
    assert loaded["zig"].steps == ()  # no checksum_url: nothing for drift-monitor


def test_zig_without_checksum_url_has_no_targets(corpus: Path) -> None:
    zig = recipe_files.load_recipe(corpus / "recipes" / "zig.toml")
    assert recipes.checksum_targets(zig, "0.14.1", "0.14.1", [LINUX, MAC]) == []


def test_os_mapping_and_arch_mapping_apply_per_step(corpus: Path) -> None:
    nextest = recipe_files.load_recipe(corpus / "recipes" / "cargo-nextest.toml")
    urls = [t.url for t in recipes.checksum_targets(nextest, "0.9.1", "0.9.1", [LINUX_ARM, MAC])]
    assert urls == [
        "https://github.com/nextest-rs/nextest/releases/download/cargo-nextest-0.9.1/cargo-nextest-0.9.1-aarch64-unknown-linux-musl.sha256",
        "https://github.com/nextest-rs/nextest/releases/download/cargo-nextest-0.9.1/cargo-nextest-0.9.1-universal-apple-darwin.sha256",
    ]


def test_a_step_only_applies_to_the_os_of_its_when_clause(corpus: Path) -> None:
    rust = recipe_files.load_recipe(corpus / "recipes" / "rust.toml")
    mac = recipes.checksum_targets(rust, "1.85.0", "1.85.0", [MAC])
    assert [t.url for t in mac] == ["https://static.rust-lang.org/dist/rust-1.85.0-aarch64-apple-darwin.tar.gz.sha256"]


def test_glibc_step_is_preferred_over_the_musl_and_alpine_steps(corpus: Path) -> None:
    rust = recipe_files.load_recipe(corpus / "recipes" / "rust.toml")
    urls = [t.url for t in recipes.checksum_targets(rust, "1.85.0", "1.85.0", [LINUX])]
    assert urls == ["https://static.rust-lang.org/dist/rust-1.85.0-x86_64-unknown-linux-gnu.tar.gz.sha256"]


def test_musl_only_recipe_falls_back_to_its_musl_step() -> None:
    recipe = _recipe(
        """
[version]
github_repo = "o/r"
[[steps]]
action = "download"
checksum_url = "https://example.test/{version}/musl-{arch}.sha256"
when = { os = ["linux"], libc = ["musl"] }
"""
    )
    assert [t.url for t in recipes.checksum_targets(recipe, "1.0", "1.0", [LINUX])] == [
        "https://example.test/1.0/musl-amd64.sha256"
    ]


def test_one_checksum_file_shared_by_platforms_is_fetched_once(corpus: Path) -> None:
    terraform = recipe_files.load_recipe(corpus / "recipes" / "terraform.toml")
    targets = recipes.checksum_targets(terraform, "1.11.0", "1.11.0", [LINUX, LINUX_ARM, MAC])
    assert len(targets) == 1
    assert targets[0].platforms == ("linux/amd64", "linux/arm64", "darwin/arm64")


def test_unsupported_platforms_of_the_recipe_are_excluded(corpus: Path) -> None:
    vagrant = recipe_files.load_recipe(corpus / "recipes" / "vagrant.toml")
    assert recipes.checksum_targets(vagrant, "2.4.3", "2.4.3", [LINUX_ARM, MAC]) == []


def test_arch_condition_picks_the_right_step(corpus: Path) -> None:
    ollama = recipe_files.load_recipe(corpus / "recipes" / "ollama.toml")
    assert len(recipes.steps_for(ollama, LINUX)) == 1
    assert recipes.steps_for(ollama, LINUX)[0].index == 0
    assert recipes.steps_for(ollama, LINUX_ARM)[0].index == 2
    assert recipes.steps_for(ollama, MAC) == []  # github_archive has no checksum_url


def test_version_tag_is_the_full_tag() -> None:
    recipe = _recipe(
        """
[version]
github_repo = "o/r"
tag_prefix = "release-"
[[steps]]
action = "download"
checksum_url = "https://example.test/{version_tag}/tool-{version}.sha256"
"""
    )
    assert (
        recipes.checksum_targets(recipe, "2.0", "release-2.0", [LINUX])[0].url
        == "https://example.test/release-2.0/tool-2.0.sha256"
    )


def test_pinned_and_nodejs_dist_versions_are_recognised() -> None:
    pinned = _recipe('[version]\nversion = "1.2.3"\ntag_prefix = "v"\n')
    assert pinned.version == recipes.VersionSpec("pinned", "", "v", "1.2.3")
    node = _recipe('[version]\nsource = "nodejs_dist"\n')
    assert node.version.source == "nodejs_dist"
    other = _recipe('[version]\nsource = "npm_registry"\n')
    assert other.version.source == "npm_registry"


def test_unknown_placeholder_is_an_error_naming_it() -> None:
    recipe = _recipe('[[steps]]\naction = "download"\nchecksum_url = "https://example.test/{install_dir}/x"\n')
    with pytest.raises(ValueError, match=r"\{install_dir\}"):
        recipes.checksum_targets(recipe, "1", "1", [LINUX])


def test_broken_toml_names_file_and_line() -> None:
    with pytest.raises(recipes.RecipeError) as info:
        recipes.parse_recipe('[metadata]\nname = "x"\n[[steps]\n', file="recipes/x.toml")
    assert info.value.file == "recipes/x.toml"
    assert info.value.line == 3


def test_recipe_name_with_shell_characters_is_rejected() -> None:
    with pytest.raises(recipes.RecipeError, match="metadata.name|characters"):
        recipes.parse_recipe('[metadata]\nname = "x`rm -rf`"\n', file="x.toml")


def test_one_broken_recipe_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "good.toml").write_text('[metadata]\nname = "good"\n')
    (tmp_path / "bad.toml").write_text("[metadata\n")
    loaded, errors = recipe_files.load_dir(tmp_path)
    assert [r.relpath for r in loaded] == ["a/good.toml"]
    assert len(errors) == 1 and errors[0].file.endswith("bad.toml")


def test_platforms_input_defaults_to_linux_amd64_and_rejects_garbage() -> None:
    assert recipes.parse_platforms("") == [LINUX]
    assert recipes.parse_platforms("linux/amd64, darwin/arm64") == [LINUX, MAC]
    assert recipes.parse_platforms('["linux/arm64"]') == [LINUX_ARM]
    with pytest.raises(UsageError, match="os/arch"):
        recipes.parse_platforms("linux")


@given(
    os_list=st.lists(st.sampled_from(["linux", "darwin", "windows"]), max_size=3),
    arch=st.sampled_from(["", "amd64", "arm64"]),
    libc=st.lists(st.sampled_from(["glibc", "musl"]), max_size=2),
    platform=st.sampled_from([LINUX, LINUX_ARM, MAC, Platform("darwin", "amd64")]),
)
def test_when_clause_never_matches_another_os_or_arch(
    os_list: list[str], arch: str, libc: list[str], platform: Platform
) -> None:
    when: dict = {}
    if os_list:
        when["os"] = os_list
    if arch:
        when["arch"] = arch
    if libc:
        when["libc"] = libc
    matched = recipes.when_matches(when, platform, libc="glibc")
    if os_list and platform.os not in os_list:
        assert not matched
    if arch and platform.arch != arch:
        assert not matched
    if libc and platform.os != "linux":
        assert not matched
    if not when:
        assert matched


def test_a_recipe_with_a_malformed_table_is_read_without_crashing() -> None:
    text = (
        '[metadata]\nname = "odd"\nversion = "not a table"\n\n[[steps]]\naction = "download"\n'
        'checksum_url = "https://example.test/{version}/SUMS"\n'
        'os_mapping = "linux"\narch_mapping = 3\nwhen = "always"\n'
    )
    recipe = recipes.parse_recipe(text, file="odd.toml")
    (step,) = recipe.steps
    assert step.os_mapping == {} and step.arch_mapping == {} and step.when == {}


@pytest.mark.parametrize("depth", [600, 985, 2000])
def test_a_recipe_nested_thousands_deep_is_a_recipe_error_naming_the_file(depth: int) -> None:
    text = '[metadata]\nname = "deep"\n[version]\nversion = "1"\n[x]\ny = ' + "[" * depth + "]" * depth + "\n"
    with pytest.raises(recipes.RecipeError) as info:
        recipes.parse_recipe(text, file="recipes/deep.toml")
    assert info.value.file == "recipes/deep.toml"
    assert "nested too deeply" in info.value.message


def test_a_deep_table_in_a_step_is_read_or_refused_never_a_crash() -> None:
    nested = "{ a = " * 900 + "1" + " }" * 900
    text = f'[[steps]]\naction = "download"\nchecksum_url = "https://e.test/x"\nos_mapping = {{ linux = {nested} }}\n'
    try:
        recipes.parse_recipe(text, file="d.toml")
    except recipes.RecipeError as exc:
        assert exc.file == "d.toml"


@pytest.mark.parametrize("name", ["tool\n", "tool\nbatch_id: other", "", "-tool", "t" * 129])
def test_a_recipe_name_with_a_trailing_newline_or_other_trick_is_refused(name: str) -> None:
    text = '[metadata]\nname = "' + name.replace("\n", "\\n") + '"\n'
    if not name:
        assert recipes.parse_recipe(text, file="stem.toml").name == "stem"  # empty: the file's name
        return
    with pytest.raises(recipes.RecipeError, match="metadata.name|characters"):
        recipes.parse_recipe(text, file="x.toml")


def test_a_version_with_a_trailing_newline_does_not_match_the_version_pattern() -> None:
    assert recipes.VERSION_PATTERN.match("1.0.0")
    assert not recipes.VERSION_PATTERN.match("1.0.0\n")
    assert not recipes.NAME_PATTERN.match("tool\n")


@given(st.text(max_size=400))
def test_any_text_is_a_recipe_or_a_recipe_error(text: str) -> None:
    try:
        recipes.parse_recipe(text, file="fuzz.toml")
    except recipes.RecipeError as exc:
        assert exc.file == "fuzz.toml"


@given(
    st.recursive(
        st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["os", "arch", "platform", "libc", "x"]), inner, max_size=3),
        ),
        max_leaves=20,
    )
)
def test_any_when_value_is_read_without_crashing(value: object) -> None:
    import json

    text = '[[steps]]\naction = "download"\nchecksum_url = "https://e.test/{os}"\nwhen = ' + _toml_value(value) + "\n"
    try:
        recipe = recipes.parse_recipe(text, file="w.toml")
    except recipes.RecipeError:
        return
    for platform in (LINUX, MAC):
        recipes.steps_for(recipe, platform)
    assert json.dumps(recipe.name)


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"


def test_an_unreadable_recipe_file_is_reported_and_the_others_are_read(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text('[metadata]\nname = "good"\n')
    (tmp_path / "latin1.toml").write_bytes(b'[metadata]\nname = "caf\xe9"\n')
    (tmp_path / "deep.toml").write_text("[x]\ny = " + "[" * 2000 + "]" * 2000 + "\n")
    (tmp_path / "huge.toml").write_text("# " + "x" * (recipe_files.MAX_RECIPE_BYTES + 1))
    loaded, errors = recipe_files.load_dir(tmp_path)
    assert [r.name for r in loaded] == ["good"]
    assert sorted(Path(str(e.file)).name for e in errors) == ["deep.toml", "huge.toml", "latin1.toml"]
