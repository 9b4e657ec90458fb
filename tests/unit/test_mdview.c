/* test_mdview.c - Markdown layout: wrapping by display width, lists, checkboxes, code,
 * tables, and every shipped runbook. */
#include "config.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "common/mdview.h"
#include "common/util.h"
#include "control/runbook.h"
#include "tap.h"

static char *line(const MdDoc *d, int i) {
   return i < d->n ? Md_line_text(&d->lines[i]) : xstrdup("(none)");
}

static int find_line(const MdDoc *d, const char *needle) {
   for (int i = 0; i < d->n; i++) {
      char *s = Md_line_text(&d->lines[i]);
      bool hit = strstr(s, needle) != NULL;
      free(s);
      if (hit)
         return i;
   }
   return -1;
}

int main(void) {
   setlocale(LC_ALL, "C.UTF-8");
   is_int(Md_width("caf\xc3\xa9"), 4, "display width of a UTF-8 word");
   is_int(Md_width("\xe4\xb8\xad\xe6\x96\x87"), 4, "wide CJK characters count two columns each");
   is_int(Md_fit("\xe4\xb8\xad\xe6\x96\x87", 3), 3, "fit stops before a wide char that would overflow");

   const char *md =
      "# Shadow: compare\n\n"
      "A paragraph with **bold** and `code` that is long enough to wrap around the narrow width we use here.\n\n"
      "- [ ] First item to check\n"
      "- [x] Done already\n"
      "- plain bullet\n\n"
      "1. one\n2. two\n\n"
      "```sh\nofframp phase advance intent\n```\n\n"
      "| step | dwell |\n|---|---|\n| 5 % | 1 day |\n| 100 % | 7 days |\n\n"
      "> quoted text\n";
   MdDoc *d = Md_render(md, 40);
   char *l0 = line(d, 0);
   is_str(l0, "SHADOW: COMPARE", "level-1 heading upper-cased");
   free(l0);
   bool fits = true;
   for (int i = 0; i < d->n; i++) {
      char *s = Md_line_text(&d->lines[i]);
      if (Md_width(s) > 40)
         fits = false;
      free(s);
   }
   ok(fits, "no line wider than 40 columns");
   int p = find_line(d, "A paragraph");
   int p2 = find_line(d, "we use here");
   ok(p >= 0 && p2 > p, "the paragraph wraps onto more lines (%d, %d)", p, p2);
   bool bold = false;
   for (int r = 0; p >= 0 && r < d->lines[p].nruns; r++)
      bold |= strcmp(d->lines[p].runs[r].text, "bold") == 0 && (d->lines[p].runs[r].attr & MD_BOLD);
   ok(bold, "strong text carries MD_BOLD");

   is_int(d->nchecks, 2, "two task-list items");
   int c1 = find_line(d, "First item");
   ok(c1 >= 0 && d->lines[c1].check == 0, "unchecked item");
   ok(c1 >= 0 && d->lines[c1].key && strcmp(d->lines[c1].key, "First item to check") == 0,
      "item key is its text without the box (%s)", c1 >= 0 && d->lines[c1].key ? d->lines[c1].key : "");
   char *cl = c1 >= 0 ? line(d, c1) : xstrdup("");
   is_str(cl, "[ ] First item to check", "checkbox rendered");
   free(cl);
   int c2 = find_line(d, "Done already");
   ok(c2 >= 0 && d->lines[c2].check == 1, "checked item from [x]");
   int b = find_line(d, "plain bullet");
   ok(b >= 0 && d->lines[b].check == -1, "plain bullet is not a checklist item");
   ok(find_line(d, "2. two") >= 0, "ordered list numbered");
   int code = find_line(d, "offramp phase advance intent");
   char *cs = code >= 0 ? line(d, code) : xstrdup("");
   is_str(cs, "  offramp phase advance intent", "code block indented two columns");
   free(cs);
   int th = find_line(d, "step");
   char *ts = th >= 0 ? line(d, th) : xstrdup(""), *tr = th >= 0 ? line(d, th + 2) : xstrdup("");
   is_str(ts, "step   dwell", "table header aligned");
   is_str(tr, "5 %    1 day", "table row aligned under the header");
   free(ts);
   free(tr);
   ok(find_line(d, "|---") < 0, "table separator row not shown as text");
   int q = find_line(d, "quoted text");
   char *qs = q >= 0 ? line(d, q) : xstrdup("");
   ok(strstr(qs, "\xe2\x94\x82 quoted text") != NULL, "block quote has a bar (%s)", qs);
   free(qs);
   Md_free(d);

   /* Every shipped runbook renders at 80 columns with a real checklist. */
   for (int i = 0; i < Runbook_count; i++) {
      char *err = NULL;
      MdDoc *rb = Runbook_load(Runbook_names[i], 78, &err);
      ok(rb != NULL, "runbook %s loads (%s)", Runbook_names[i], err ? err : "ok");
      if (!rb) {
         free(err);
         continue;
      }
      ok(rb->nchecks >= 6, "runbook %s has a checklist (%d items)", Runbook_names[i], rb->nchecks);
      int wide = 0;
      for (int k = 0; k < rb->n; k++) {
         char *s = Md_line_text(&rb->lines[k]);
         wide += Md_width(s) > 78;
         free(s);
      }
      is_int(wide, 0, "no line of the runbook wider than 78 columns");
      Md_free(rb);
   }
   char *err = NULL;
   ok(Runbook_load("nope", 78, &err) == NULL && err && strstr(err, "'nope' is not a runbook"), "unknown runbook named");
   free(err);
   return tap_done();
}
