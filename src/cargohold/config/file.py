"""Reading the YAML config file for ``cargohold.config.settings``: parsing (duplicate keys are an error),
expanding ``${VAR}`` / ``${VAR:-default}`` environment references in string values, and turning pydantic
validation errors into ``<dotted.path>: <reason>`` lines. Messages never quote a value from the file, so a
password cannot leak through them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from cargohold.errors import ConfigError

_REFERENCE_RE: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _problem_list(heading: str, problems: list[str]) -> ConfigError:
    return ConfigError(heading + ":\n" + "\n".join(f"  {p}" for p in problems), detail=problems)


def load_yaml_file(path: Path) -> dict[str, Any]:
    """Parse the config file at ``path`` and expand its environment references.

    Raises ConfigError when the file cannot be read, is not YAML, is not a mapping at the top, or names an
    environment variable that is not set and has no default.
    """
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}", detail=[str(exc)]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        problem = f"{where}: {reason}"
        raise _problem_list(f"config file {path} is not valid YAML", [problem]) from None
    except yaml.YAMLError:
        raise ConfigError(f"config file {path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings (key: value) at the top")
    problems: list[str] = []
    expanded = _expand(data, (), os.environ, problems)
    if problems:
        raise _problem_list(f"invalid configuration in {path}", problems)
    assert isinstance(expanded, dict)
    return {str(key): value for key, value in expanded.items()}


def _expand(value: Any, loc: tuple[str, ...], env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, (*loc, str(key)), env, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, (*loc, str(index)), env, problems) for index, item in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return expand_references(value, ".".join(loc) or "(top)", env, problems)
    return value


def expand_references(text: str, where: str, env: Mapping[str, str], problems: list[str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in ``text``; ``$${`` stands for a literal ``${``.

    A reference to an unset variable without a default, or a malformed reference, appends
    ``"<where>: <reason>"`` to ``problems`` (never the value) and expands to the empty string.
    """

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        body = match.group(1)
        if body is None:
            problems.append(f"{where}: unterminated ${{ (write $${{ for a literal ${{)")
            return ""
        name, has_default, default = body.partition(":-")
        if not _NAME_RE.match(name):
            problems.append(
                f"{where}: malformed environment reference (expected ${{NAME}} or ${{NAME:-default}})"
            )
            return ""
        found = env.get(name)
        if has_default:
            return found if found else default
        if found is None:
            problems.append(f"{where}: environment variable {name} is not set")
            return ""
        return found

    return _REFERENCE_RE.sub(replace, text)


def format_problems(error: ValidationError) -> list[str]:
    """One ``<dotted.path>: <reason>`` line per validation error; input values are never shown."""
    problems: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(top)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        elif item["type"] == "missing":
            message = "required setting is missing"
        problems.append(f"{path}: {message}")
    return problems
