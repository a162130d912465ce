#!/bin/sh
# Set up datagraph in a virtual environment: system WordNet data (for rebuilding the snapshot),
# torch's CPU wheel first (a bare torch requirement would pull a multi-GB CUDA build), then the
# project with pinned versions from requirements.lock.
set -eu
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing WordNet 3.0 (Debian wordnet-base, wordnet-sense-index)"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            wordnet-base wordnet-sense-index >/dev/null
    else
        echo "setup: not root, skipping WordNet 3.0 system data (only needed to rebuild the snapshot)"
    fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/pip" install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
echo "setup: done ($VENV)"
