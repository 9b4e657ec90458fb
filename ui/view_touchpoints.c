/* view_touchpoints.c - discovered touchpoints: untagged calls grouped by prompt template,
 * the selected one's skeleton and sample prompts below the list; n names it (a new task),
 * m merges it into an existing task. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/touchpoints.h"

typedef struct {
   Touchpoint *all;
   int nall;
   Touchpoint **tp;   /* those the '/' filter keeps (by fingerprint or template) */
   int n;
} TpView;

static void tp_open(View *v) {
   TpView *t = v->data;
   if (!t)
      v->data = t = xcalloc(1, sizeof *t);
   Touchpoints_free(t->all, t->nall);
   free(t->tp);
   t->all = Touchpoints_list(Console_store(), &t->nall);
   t->tp = xcalloc((size_t)t->nall + 1, sizeof *t->tp);
   t->n = 0;
   for (int i = 0; i < t->nall; i++) {
      if (!*v->filter || strstr(t->all[i].fingerprint, v->filter) || strstr(t->all[i].skeleton, v->filter))
         t->tp[t->n++] = &t->all[i];
   }
}

static int tp_lines(View *v) {
   return ((TpView *)v->data)->n;
}

static void tp_title(View *v, char *buf, size_t size) {
   TpView *t = v->data;
   int n = snprintf(buf, size, "offramp \xc2\xb7 touchpoints \xc2\xb7 %d discovered", t->nall);
   if (*v->filter && n > 0 && (size_t)n < size)
      snprintf(buf + n, size - (size_t)n, " \xc2\xb7 %d matching '%s'", t->n, v->filter);
}

/* The list takes the top part; the selected touchpoint's details the rest. */
#define DETAIL_LINES 7

static void tp_draw(View *v, int top, int height, int width) {
   TpView *t = v->data;
   char line[512], x[32];
   if (t->n == 0) {
      Draw_text(top + 1, 1, width - 1, A_NORMAL, *v->filter ? "No touchpoint matches the filter (Esc clears it)."
                                                 : "No discovered touchpoints: every logged call belongs to a task.");
      return;
   }
   snprintf(line, sizeof line, "%-16s %9s  %s", "fingerprint", "calls", "template");
   Draw_text(top, 1, width - 1, Draw_attr(C_HEADING), line);
   int rows = height - 1 - DETAIL_LINES;
   if (rows < 1)
      rows = 1;
   if (v->cursor >= v->offset + rows)
      v->offset = v->cursor - rows + 1;
   if (v->cursor < v->offset)
      v->offset = v->cursor;
   for (int r = 0; r < rows && v->offset + r < t->n; r++) {
      int i = v->offset + r;
      snprintf(line, sizeof line, "%-16s %9s  %s", t->tp[i]->fingerprint, fmt_count(x, sizeof x, t->tp[i]->calls),
               t->tp[i]->skeleton);
      int attr = i == v->cursor ? Draw_attr(C_CURSOR) : (int)A_NORMAL;
      if (i == v->cursor)
         Draw_fill(top + 1 + r, 0, width, attr);
      Draw_text(top + 1 + r, 1, width - 1, attr, line);
   }
   const Touchpoint *s = t->tp[v->cursor < t->n ? v->cursor : 0];
   int y = top + height - DETAIL_LINES;
   Draw_text(y++, 1, width - 1, Draw_attr(C_HEADING), "SAMPLE PROMPTS");
   for (int j = 0; j < s->nsamples && j < 3; j++) {
      /* One line per sample: newlines would break the layout. */
      char *flat = xstrdup(s->samples[j]);
      for (char *p = flat; *p; p++) {
         if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
      }
      snprintf(line, sizeof line, "  %s", flat);
      free(flat);
      Draw_text(y++, 1, width - 1, A_NORMAL, line);
   }
   y = top + height - 1;
   Draw_text(y, 1, width - 1, Draw_attr(C_DIM), "n: name as a new task \xc2\xb7 m: merge into a task \xc2\xb7 A: audit");
}

static int tp_request(View *v, Action a) {
   TpView *t = v->data;
   if (a != ACTION_TOUCHPOINT_NAME && a != ACTION_TOUCHPOINT_MERGE)
      return NOT_HANDLED;
   if (t->n == 0) {
      Console_message("no touchpoint selected");
      return HANDLED;
   }
   bool create = a == ACTION_TOUCHPOINT_NAME;
   char *fp = xstrdup(t->tp[v->cursor]->fingerprint);
   char *task = Console_prompt(create ? "new task name: " : "merge into task: ", NULL);
   if (task && *str_trim(task)) {
      char *err = NULL;
      long long moved = Touchpoints_assign(Console_store(), fp, task, create, &err);
      if (moved < 0) {
         Console_message("%s", err);
      } else {
         char x[32];
         Console_message("%.8s %s '%s': %s calls attributed", fp, create ? "named" : "merged into", task,
                         fmt_count(x, sizeof x, moved));
      }
      free(err);
      tp_open(v);
   }
   free(task);
   free(fp);
   return REDRAW;
}

static void tp_done(View *v) {
   TpView *t = v->data;
   if (t) {
      Touchpoints_free(t->all, t->nall);
      free(t->tp);
   }
   free(t);
   v->data = NULL;
}

const ViewOps touchpoints_ops = {
   .name = "touchpoints",
   .open = tp_open,
   .draw = tp_draw,
   .request = tp_request,
   .done = tp_done,
   .title = tp_title,
   .lines = tp_lines,
   .cursor_line = true,
   .filters = true,
   .hint = "j/k:move n:name m:merge A:audit",
};
