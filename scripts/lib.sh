# shellcheck shell=bash
# Shared shell functions of the scripts in this directory (sourced, not run).
# Everything here is idempotent: it checks first and changes only what is missing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Print the Debian packages among the arguments that are not installed.
missing_debs() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
    done
}

# apt-get install the packages that are missing; `apt-get update` only when the package lists are empty
# or the install cannot find a package.
apt_install() {
    local missing
    missing="$(missing_debs "$@" | tr '\n' ' ')"
    [ -n "${missing// /}" ] || return 0
    say "installing Debian packages: $missing"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0)
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        as_root "${apt[@]}" update
    fi
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if ! as_root "${apt[@]}" install --no-install-recommends $missing; then
        as_root "${apt[@]}" update
        # shellcheck disable=SC2086
        as_root "${apt[@]}" install --no-install-recommends $missing
    fi
}

# Create .venv (Python >= 3.11) if needed and install cargohold into it, editable, with the extras in $1
# ("" or "dev"). Reinstalls only when pyproject.toml changed or the package is not importable.
ensure_venv() {
    local extras="${1:-}"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
            echo "cargohold needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
            exit 1
        }
        say "creating $VENV"
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            apt_install python3-venv # Debian's python3 ships venv without ensurepip
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.cargohold-install" want have=""
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-64)"
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    # A dev install also satisfies a plain one.
    if { [ "$have" = "$want dev" ] || { [ -z "$extras" ] && [ "$have" = "$want " ]; }; } &&
        "$VENV/bin/python" -c 'import cargohold' 2>/dev/null; then
        return 0
    fi
    say "installing cargohold${extras:+[$extras]} into $VENV"
    local spec="$ROOT"
    [ -n "$extras" ] && spec="${ROOT}[${extras}]"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -e "$spec"
    echo "$want $extras" >"$stamp"
}
