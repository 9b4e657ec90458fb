#!/bin/sh
# hygiene.sh - the source tree holds sources: no compiled program is committed, and every
# program the build makes (the binary, unit tests, the helpers make check builds) is ignored by
# git, so building and make check leave 'git status' clean. Needs the git checkout (skipped in a
# release tarball).
. "$TESTS_SRCDIR/lib.sh"
SRC=$(cd "$TESTS_SRCDIR/.." && pwd)
command -v git >/dev/null 2>&1 && git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
   skip_all "not a git checkout"

elf=""
for f in $(git -C "$SRC" ls-files); do
   [ -f "$SRC/$f" ] || continue
   case "$(head -c 4 "$SRC/$f" | od -An -tx1 | tr -d ' \n')" in 7f454c46) elf="$elf $f" ;; esac
done
equals "no compiled program is committed" "$elf" ""

# The programs Makefile.am builds: bin_PROGRAMS, UNIT_TESTS, check_PROGRAMS (continuations joined).
progs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$SRC/Makefile.am" |
        sed -n 's/^\(bin_PROGRAMS\|UNIT_TESTS\|check_PROGRAMS\) *= *//p' | tr ' \t' '\n\n' | grep -v '^\$\|^$')
n=$(printf '%s\n' "$progs" | wc -l)
[ "$n" -gt 10 ] && ok "found the $n programs the build makes" || not_ok "programs listed in Makefile.am" "$progs"
missing=""
for p in $progs; do
   git -C "$SRC" check-ignore -q --no-index "$p" || missing="$missing $p"
done
equals "every program the build makes is ignored by git" "$missing" ""

done_testing
