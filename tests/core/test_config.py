"""Settings: file, then environment, then flags; bad keys are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmos.config import Settings, load_settings
from llmos.errors import ConfigError


def write_config(workspace: Path, text: str) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text(text, encoding="utf-8")


def test_defaults_without_any_layer(workspace: Path) -> None:
    settings = load_settings(workspace=workspace, env={})
    assert settings.workspace == workspace.absolute()
    assert settings.provider is None
    assert settings.mode == "auto"
    assert settings.tools.bash_timeout == 120


def test_precedence_file_then_env_then_flags(workspace: Path) -> None:
    write_config(
        workspace, 'provider = "openai"\nmodel = "from-file"\n[tools]\nbash_timeout = 30\n'
    )
    only_file = load_settings(workspace=workspace, env={})
    assert (only_file.provider, only_file.model, only_file.tools.bash_timeout) == (
        "openai",
        "from-file",
        30,
    )
    env = {"LLMOS_MODEL": "from-env", "LLMOS_TOOLS__BASH_TIMEOUT": "20"}
    with_env = load_settings(workspace=workspace, env=env)
    assert (with_env.provider, with_env.model, with_env.tools.bash_timeout) == (
        "openai",
        "from-env",
        20,
    )
    with_flags = load_settings(
        workspace=workspace, env=env, overrides={"model": "from-flag", "provider": None}
    )
    assert (with_flags.provider, with_flags.model) == ("openai", "from-flag")


def test_workspace_from_env_when_no_flag(tmp_path: Path) -> None:
    settings = load_settings(env={"LLMOS_WORKSPACE": str(tmp_path / "elsewhere")})
    assert settings.workspace == tmp_path / "elsewhere"


def test_unknown_key_in_file_is_named_with_the_known_ones(workspace: Path) -> None:
    write_config(workspace, "[tools]\nbash_timout = 3\n")
    with pytest.raises(ConfigError, match=re.escape("unknown setting 'tools.bash_timout'")) as info:
        load_settings(workspace=workspace, env={})
    assert info.value.key == "tools.bash_timout"
    assert "bash_timeout" in str(info.value)
    assert "llmos.toml" in str(info.value)


def test_bad_value_in_env_names_the_variable_source(workspace: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment .*tools\.bash_timeout") as info:
        load_settings(workspace=workspace, env={"LLMOS_TOOLS__BASH_TIMEOUT": "soon"})
    assert info.value.key == "tools.bash_timeout"


def test_bad_provider_flag_lists_the_choices(workspace: Path) -> None:
    with pytest.raises(ConfigError, match="'local'"):
        load_settings(workspace=workspace, env={}, overrides={"provider": "gpt"})


def test_invalid_toml_is_a_config_error(workspace: Path) -> None:
    write_config(workspace, "provider = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(workspace=workspace, env={})


def test_list_values_from_env(workspace: Path) -> None:
    settings = load_settings(
        workspace=workspace, env={"LLMOS_TOOLS__WEBFETCH_ALLOW": '["docs.python.org"]'}
    )
    assert settings.tools.webfetch_allow == ["docs.python.org"]


def test_non_setting_variables_are_ignored(workspace: Path) -> None:
    settings = load_settings(workspace=workspace, env={"LLMOS_API_TOKEN": "x", "LLMOS_DEBUG": "1"})
    assert settings.mode == "auto"


def test_a_bad_value_is_blamed_on_the_layer_that_set_it(workspace: Path) -> None:
    # The environment sets another key of the same table: the file is still named.
    write_config(workspace, '[tools]\nbash_timeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"llmos\.toml: tools\.bash_timeout: ") as info:
        load_settings(workspace=workspace, env={"LLMOS_TOOLS__SANDBOX": "false"})
    assert info.value.key == "tools.bash_timeout"
    assert "environment" not in str(info.value)


def test_tables_merge_across_layers(workspace: Path) -> None:
    write_config(workspace, "[tools]\nbash_timeout = 5\n[tools.env]\nexclude = ['EDITOR']\n")
    settings = load_settings(
        workspace=workspace,
        env={"LLMOS_TOOLS__ENV__SET": "{ A = '1' }"},
        overrides={"tools.sandbox": False},
    )
    assert (settings.tools.bash_timeout, settings.tools.sandbox) == (5, False)
    assert (settings.tools.env.exclude, settings.tools.env.set) == (["EDITOR"], {"A": "1"})


@pytest.mark.parametrize("text", ["[budget]\ntotal_usd = inf\n", "[watchdog]\nstall_s = nan\n"])
def test_non_finite_numbers_are_refused(workspace: Path, text: str) -> None:
    write_config(workspace, text)
    with pytest.raises(ConfigError, match="Input should be a finite number"):
        load_settings(workspace=workspace, env={})


def test_settings_built_directly_read_no_layer(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOS_MODEL", "from-env")
    write_config(workspace, 'model = "from-file"\n')
    monkeypatch.chdir(workspace)
    assert Settings(provider="scripted").model is None
    assert load_settings(workspace=workspace).model == "from-env"
