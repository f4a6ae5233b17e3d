"""The command line loads each command's module only when that command runs: every entry of the lazy table
names a real command, ``cargohold --help`` lists them all, and neither ``--help`` nor ``serve --help`` loads
the server's libraries (what made every command take most of a second before it printed anything)."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from cargohold.cli import COMMANDS, cli

HEAVY = ("aiohttp", "sqlalchemy", "pydantic", "pydantic_settings", "alembic", "argon2", "prometheus_client")


def test_every_listed_command_resolves_to_itself() -> None:
    group = cli
    assert isinstance(group, click.Group)
    with click.Context(group) as context:
        for name in COMMANDS:
            command = group.get_command(context, name)
            assert isinstance(command, click.Command)
            assert command.name == name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name, (_, _, summary) in COMMANDS.items():
        assert f"  {name} " in result.output
        assert summary.split()[0] in result.output


def loaded_after(*argv: str) -> set[str]:
    script = (
        "import sys\nfrom cargohold.cli import main\nsys.argv = ['cargohold', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stderr.split())


def test_help_loads_none_of_the_server_libraries() -> None:
    assert loaded_after("--help").isdisjoint(HEAVY)
    assert loaded_after("serve", "--help").isdisjoint(HEAVY)
    assert "rich" not in loaded_after("serve", "--help")
