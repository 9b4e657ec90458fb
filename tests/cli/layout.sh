#!/bin/sh
# layout.sh - the house's plan, checked from the source: every #include of offramp's own
# headers points down the layers below, no two modules include each other round a loop, only
# the console (ui/) includes curses, and nothing in the product includes the demo.
#
# src/<folder>/ may include the folders listed for it here (and the C and third-party headers);
# the one-line rule of each folder is at the top of its main header.
. "$TESTS_SRCDIR/lib.sh"

top=$(cd "$TESTS_SRCDIR/.." && pwd)
allowed() {
   case $1 in
   common) echo "common" ;;
   store) echo "common store" ;;
   http) echo "common http" ;;
   gateway) echo "common store http gateway" ;;
   trainer) echo "common http trainer" ;;
   replay) echo "common store http replay" ;;
   control) echo "common store http gateway trainer replay control" ;;
   demo) echo "common store http gateway trainer replay control demo" ;;
   cli) echo "common store http gateway trainer replay control demo cli" ;;
   ui) echo "common store http gateway trainer replay control demo cli ui" ;;
   *) echo "" ;;
   esac
}
folders="common store http gateway trainer replay control demo cli"

# Every source file sits in a folder of the plan: src/ has no files of its own.
stray=$(find "$top/src" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) | sed "s|$top/||")
equals "src/ holds folders only, no stray source files" "$stray" ""

# Each include of a project header names its folder, and the folder is allowed.
bad=""
edges=""
for f in $(cd "$top" && ls src/*/*.[ch] ui/*.[ch]); do
   from=$(echo "$f" | cut -d/ -f2)
   case $f in ui/*) from=ui ;; esac
   # A module is NAME.c with NAME.h (and NAME_private.h, its private header).
   mod=$(basename "$f" | sed 's/\.[ch]$//; s/_private$//')
   for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$top/$f"); do
      case $inc in
      config.h) continue ;;
      */*)
         to=${inc%%/*}
         tmod=$(basename "$inc" .h | sed 's/_private$//')
         if [ ! -f "$top/src/$inc" ]; then
            bad="$bad
$f includes $inc, which does not exist under src/"
            continue
         fi
         ;;
      *)
         # A bare name: a sibling in ui/ only; src/ files name the folder.
         if [ "$from" = ui ] && [ -f "$top/ui/$inc" ]; then
            to=ui
            tmod=$(basename "$inc" .h)
         else
            bad="$bad
$f includes \"$inc\" without its folder (write \"FOLDER/$inc\")"
            continue
         fi
         ;;
      esac
      case " $(allowed "$from") " in
      *" $to "*) ;;
      *) bad="$bad
$f ($from) includes $inc ($to): $from may include only $(allowed "$from")" ;;
      esac
      [ "$tmod" != "$mod" ] && edges="$edges
$from/$mod $to/$tmod"
   done
done
equals "every include of a project header names its folder and points down the plan" "$bad" ""

# No loop among modules (a.c/a.h is one module): tsort finds one if there is.
loops=$(echo "$edges" | sed '/^$/d' | tsort 2>&1 >/dev/null | grep -v '^tsort: -: input contains a loop:$' | sed 's/^tsort: //')
equals "no module includes its way back to itself" "$loops" ""

# The data plane in particular: gateway/ includes nothing of the control plane.
dp=$(cd "$top" && grep -l '#include "control/' src/gateway/*.[ch] 2>/dev/null)
equals "the data plane (src/gateway/) includes nothing of src/control/" "$dp" ""

# Only the console speaks curses.
cur=$(cd "$top" && grep -l '#include <n*curses' src/*/*.[ch] 2>/dev/null)
equals "no engine file includes curses (only ui/ does)" "$cur" ""
ui_cur=$(cd "$top" && grep -l '#include <n*curses' ui/*.[ch] | wc -l)
if [ "$ui_cur" -gt 0 ]; then
   ok "the console does include curses ($ui_cur files), so the check above can see a curses include"
else
   not_ok "the console includes curses" "no ui/ file includes <curses.h>: the check above would see nothing"
fi

# The product never includes the demo; the demo is its own library, linked into the binary only.
dem=$(cd "$top" && grep -l '#include "demo/' src/common/* src/store/* src/http/* src/gateway/* src/trainer/* src/replay/* src/control/* 2>/dev/null)
equals "nothing of the product library includes src/demo/" "$dem" ""
lib=$(sed -n '/^libofframp_a_SOURCES/,/^$/p' "$top/Makefile.am" | grep -c 'src/demo/')
equals "the demo's sources are not in libofframp.a (Makefile.am)" "$lib" "0"

done_testing
