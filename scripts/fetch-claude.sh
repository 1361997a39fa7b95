#!/bin/bash
# scripts/fetch-claude.sh - install the real Claude Code CLI (pinned) for the
# tests, once, and print the path of a runnable `claude` binary on stdout;
# everything else goes to stderr. So callers can do: claude=$(scripts/fetch-claude.sh)
#
# `npm install -g --prefix DIR @anthropic-ai/claude-code@VERSION` into a cache
# directory; an existing install of the right version is reused. The package
# holds a native ELF binary (about 380 MB, built with Bun, linked against
# glibc only), so the test guest (Debian 12 like the build host) runs a copy
# of it (`cp -L`) without node. Tests point it at examples/fake_anthropic/.
#
# npm may warn that install scripts were not run: DIR/bin/claude still works
# (a link to the package's bin/claude.exe); the platform package's binary is
# the fallback. npm missing: installed from apt like scripts/setup-host.sh does.
#
# Environment:
#   CLAUDE_VERSION  (default 2.1.330; pin it: an unpinned install can pick up
#                   an older cached version)
#   CLAUDE_CACHE    where to install (default /var/cache/claudine-testbed/claude-VERSION
#                   as root, else build/claude-VERSION in the repository)
#   NPM             npm binary (default npm)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

version=${CLAUDE_VERSION:-2.1.330}
if [[ -n ${CLAUDE_CACHE:-} ]]; then dir=$CLAUDE_CACHE
elif [[ $EUID -eq 0 ]]; then dir=/var/cache/claudine-testbed/claude-$version
else dir=$CLAUDINE_ROOT/build/claude-$version
fi

# The first candidate that runs and reports the pinned version ("2.1.330 (Claude Code)").
find_claude() {
    local c
    for c in "$dir/bin/claude" \
        "$dir/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe" \
        "$dir/lib/node_modules/@anthropic-ai/claude-code-linux-x64/claude" \
        "$dir/lib/node_modules/@anthropic-ai/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64/claude"; do
        if [[ -x $c ]] && CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CONFIG_DIR=$dir/.probe \
            "$c" --version </dev/null 2>/dev/null | grep -q "^$version\b"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if claude=$(find_claude); then
    say "claude $version: reusing $dir"
else
    npm=${NPM:-npm}
    if ! command -v "$npm" >/dev/null; then
        command -v apt-get >/dev/null \
            || die "npm not found and no apt-get: install nodejs and npm (or set NPM)"
        say "npm not found: apt-get install nodejs npm"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            nodejs npm >&2 || die "apt-get install nodejs npm failed"
        command -v "$npm" >/dev/null || die "npm still not on PATH after apt-get install nodejs npm"
    fi
    say "npm install @anthropic-ai/claude-code@$version into $dir"
    mkdir -p "$dir"
    # --no-fund/--no-audit: no extra registry round trips; npm's chatter goes to stderr.
    install=("$npm" install -g --prefix "$dir" --no-fund --no-audit "@anthropic-ai/claude-code@$version")
    if ! "${install[@]}" >&2; then
        # The postinstall (which only puts the native binary in place of a
        # stub) wants node >= 22; without it the binary is still in the
        # platform package, which find_claude falls back to.
        say "npm install failed: again with --ignore-scripts"
        "${install[@]}" --ignore-scripts >&2 || die "npm install @anthropic-ai/claude-code@$version failed"
    fi
    claude=$(find_claude) || die "no runnable claude $version under $dir after the install"
    chmod -R a+rX "$dir"
fi
rm -rf "$dir/.probe"
echo "$claude"
