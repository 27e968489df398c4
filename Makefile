# The two commands of the README, and what they need on a fresh machine.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: console test lint system-packages

console: $(VENV)/.installed
	$(BIN)/opsconsole --inventory sample-inventory.yaml

test: $(VENV)/.installed system-packages
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The SSH test fleet runs real OpenSSH servers; the terminal test drives tmux.
system-packages:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v tmux >/dev/null || [ ! -x /usr/bin/sudo ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client tmux sudo; \
	fi
