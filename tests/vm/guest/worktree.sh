# tests/vm/guest/worktree.sh - a task's own git worktree: created as the
# user, preserved across suspend and resume, checkpointed, cleaned; the
# user's own branch and index untouched (sourced by suite.sh after lib.sh).
# shellcheck shell=bash

wt_of() { field "$1" worktree.path; }

sec_worktree() {
    begin "worktree: submit --worktree runs a task in its own git worktree on branch claudine/<id>, as the user; kept across suspend/resume, checkpointed, removed only by clean"
    local h repo head0 idx0 st0 t wt cl next r
    h=$(home_of alice)
    repo=$h/wt-repo
    rm -rf "$repo" "$h/.local/share/claudine/worktrees"
    as alice bash -c "mkdir -p $repo/sub && cd $repo && git init -q -b main && git config user.email a@x && git config user.name alice \
        && echo one > sub/file.txt && git add . && git commit -qm first && echo staged > staged.txt && git add staged.txt && echo mine > untracked.txt"
    head0=$(git_as alice -C "$repo" rev-parse HEAD)
    idx0=$(sha256sum "$repo/.git/index" | cut -d' ' -f1)
    st0=$(git_as alice -C "$repo" status --porcelain | sort | xargs)
    rm -f "$h/wt-release"

    t=$(submit alice --worktree --cwd "$repo/sub" -- sh -c "pwd > where.txt; git branch --show-current >> where.txt; echo changed > file.txt; until [ -e $h/wt-release ]; do sleep 0.2; done")
    wait_until 60 "a --worktree task ($t) runs" is_state "$t" running
    wt=$(wt_of "$t")
    check_eq "... in ~/.local/share/claudine/worktrees/wt-repo-$t" "$h/.local/share/claudine/worktrees/wt-repo-$t" "$wt"
    check_eq "... on a new branch claudine/$t" "claudine/$t" "$(field "$t" worktree.branch)"
    ctl alice status "$t"
    check_match "claudinectl status shows the worktree" "worktree: +$wt \\(branch claudine/$t\\)" "$OUT"
    wait_until 30 "... the command runs in the same subdirectory of it, on its branch" \
        bash -c "[[ \$(cat $wt/sub/where.txt 2>/dev/null | xargs) == '$wt/sub claudine/$t' ]]"
    check_eq "... the worktree belongs to alice" "alice" "$(stat -c %U "$wt" "$wt/sub/file.txt" | sort -u | xargs)"
    check "... git worktree list in her repository shows it" bash -c "runuser -u alice -- git -C $repo worktree list | grep -q '^$wt '"
    ctl alice suspend "$t"
    check_eq "suspend the worktree task" 0 "$RC"
    wait_until 60 "... a checkpoint snapshots the worktree" bash -c "runuser -u alice -- git -C $repo rev-parse -q --verify refs/claudine/$t/1 >/dev/null"
    check_eq "... holding the task's change" "changed" "$(git_as alice -C "$repo" show "refs/claudine/$t/1:sub/file.txt")"
    ctl alice resume "$t"
    check_eq "resume it" 0 "$RC"
    check "... its worktree is still there" test -d "$wt/sub"
    touch "$h/wt-release"
    wait_until 60 "... it finishes" is_state "$t" succeeded
    check_eq "alice's HEAD is untouched" "$head0" "$(git_as alice -C "$repo" rev-parse HEAD)"
    check_eq "... her branch too" "main" "$(git_as alice -C "$repo" branch --show-current)"
    check_eq "... her index is byte for byte the same (a staged file)" "$idx0" "$(sha256sum "$repo/.git/index" | cut -d' ' -f1)"
    check_eq "... her status too" "$st0" "$(git_as alice -C "$repo" status --porcelain | sort | xargs)"
    check_eq "... and her file" "one" "$(cat "$repo/sub/file.txt")"

    # clean: refused while there are uncommitted changes, unless forced; the branch stays.
    ctl alice clean "$t"
    check_match "clean with uncommitted changes: refused, naming them" "uncommitted change.*(file.txt|where.txt)" "$ERR"
    check "... the worktree is still there" test -d "$wt"
    ctl bob clean "$t"
    check_match "bob cannot clean alice's task (not found)" "not found" "$ERR"
    ctl alice clean "$t" --force
    check_eq "clean --force (exit 0)" 0 "$RC"
    check_match "... says what it removed and that the branch stays" "branch claudine/$t kept" "$OUT"
    check_not "... the directory is gone" test -e "$wt"
    check "... the branch claudine/$t stays" git_as alice -C "$repo" rev-parse -q --verify "refs/heads/claudine/$t"
    check_match "... status says so" "removed by clean" "$(ctl alice status "$t"; echo "$OUT")"
    ctl alice clean "$t"
    check_match "cleaning it again: refused" "already removed" "$ERR"

    # A Claude task in a fresh worktree: no trust prompt, the tool runs there.
    check "the fake Messages API (for the Claude task)" claude_setup
    cl=$(submit alice --worktree --cwd "$repo" --permission-mode bypassPermissions "Make a file in the worktree.
@bash pwd > made-by-claude")
    wait_until 180 "a Claude task in a fresh worktree ($cl) succeeds, blocking on no trust prompt" is_state "$cl" succeeded
    check_eq "... its tool ran in the worktree" "$(wt_of "$cl")" "$(cat "$(wt_of "$cl")/made-by-claude" 2>/dev/null)"
    systemctl stop fake-anthropic 2>/dev/null

    # Bad input.
    ctl alice submit --worktree --cwd "$h" -- true
    check_match "--worktree outside a git repository: refused" "is not in a git repository" "$ERR"
    as alice bash -c "rm -rf $h/ro-repo && mkdir $h/ro-repo && cd $h/ro-repo && git init -q && git -c user.email=a@x -c user.name=a commit -q --allow-empty -m r && chmod -R a-w .git"
    ctl alice submit --worktree --cwd "$h/ro-repo" -- true
    check_match "--worktree in a repository alice cannot write: refused" "cannot write" "$ERR"
    chmod -R u+w "$h/ro-repo/.git"
    ctl alice submit --cwd "$repo" -- true
    next=$(( OUT + 1 ))
    wait_until 30 "a plain task to learn the next id" is_state "$OUT" succeeded
    git_as alice -C "$repo" branch "claudine/$next"
    t=$(submit alice --worktree --cwd "$repo" -- true)
    check_eq "... (the next task is $next)" "$next" "$t"
    wait_until 60 "a branch claudine/$t that already exists: the task fails" is_state "$t" failed
    check_match "... saying so" "a branch claudine/$t already exists" "$(field "$t" reason)"
    r=$(submit alice --worktree --cwd "$repo" -- sleep 60)
    wait_until 60 "another worktree task runs" is_state "$r" running
    ctl alice clean "$r"
    check_match "clean of a running task: refused" "is running" "$ERR"
    ctl alice cancel "$r"
    wait_until 30 "cancelled" is_state "$r" cancelled
    ctl alice clean "$r"
    check_eq "... then its clean worktree is removed without --force" 0 "$RC"
}
